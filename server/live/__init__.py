"""The live side: the command service, the hub and its channels, sockets, the broker, timers, the record keeper.

May import: ``protocol``, ``timers``, ``store``, ``server.rules``, ``server.common``;
never ``server.http``, ``server.scheduling`` or ``server.node``.
"""
