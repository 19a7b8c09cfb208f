"""What every part of the server shares: configuration, accounts and tokens, the error map, signing keys, logs.

May import: ``protocol``, ``timers``, ``store``, ``server.rules``.
"""
