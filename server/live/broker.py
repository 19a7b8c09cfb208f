"""The in-process broker, and the choice of the adapter of the broker port.

The port (``Broker``, ``Receiver``) and its contract are in
``server/live/broker_port.py``, re-exported here. ``MemoryBroker`` serves one
process; the Redis adapter (``fanout_redis``) serves many nodes and is imported
only when configuration names it.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.live.broker_port import Broker, FrameReceiver, Receiver
from store import LogEntry

__all__ = ["Broker", "FrameReceiver", "MemoryBroker", "Receiver", "create_broker"]


class MemoryBroker:
    """In-process broker: publish hands the entries straight to the local hub."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._frames: FrameReceiver | None = None
        self._subscribed: set[str] = set()

    async def start(self, receiver: Receiver, frames: FrameReceiver | None = None) -> None:
        self._receiver = receiver
        self._frames = frames

    async def close(self) -> None:
        self._receiver = None
        self._frames = None
        self._subscribed.clear()

    async def publish(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        if self._receiver is not None and session_id in self._subscribed:
            self._receiver(session_id, entries)

    async def publish_frame(self, session_id: str, after: int, frame: bytes) -> None:
        if self._frames is not None and session_id in self._subscribed:
            self._frames(session_id, after, frame)

    async def subscribe(self, session_id: str) -> None:
        self._subscribed.add(session_id)

    async def unsubscribe(self, session_id: str) -> None:
        self._subscribed.discard(session_id)

    async def ping(self) -> None:
        return None


def create_broker(
    redis_url: str | None, *, prefix: str = "courtroom:", channel: str = "session:"
) -> Broker:
    """The adapter named by configuration; Redis is imported only when asked for.

    ``channel`` names the kind of topic: ``session:`` for the sessions' entries,
    ``tournament:`` for the boards' news (server/live/board.py).
    """
    if not redis_url:
        return MemoryBroker()
    from server.live.fanout_redis import RedisBroker

    return RedisBroker(redis_url, prefix=prefix + channel)
