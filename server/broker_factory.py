"""Picking the broker adapter named by the configuration.

Apart from ``broker`` (the port) so that the port never imports its Redis
implementation: ``fanout_redis`` depends on the port, and only this wiring
depends on both.
"""

from __future__ import annotations

from server.broker import Broker, MemoryBroker


def create_broker(redis_url: str | None, *, prefix: str = "courtroom:") -> Broker:
    """The adapter named by configuration; Redis is imported only when asked for."""
    if not redis_url:
        return MemoryBroker()
    from server.fanout_redis import RedisBroker

    return RedisBroker(redis_url, prefix=prefix + "session:")
