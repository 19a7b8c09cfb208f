"""Scheduling a tournament: the pure solver and reports (``core``) with the service and its store adapters.

May import: ``protocol``, ``timers``, ``store``, ``server.common`` (``core`` only ``protocol``).
"""
