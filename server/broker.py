"""The broker port: how committed entries reach every node's hub.

``MemoryBroker`` serves one process. The Redis adapter (``fanout_redis``)
implements the same port across nodes. Contract, as centrifuge's ``Broker``:
``publish`` is called only after the entries' transaction committed, with
consecutive entries of one session in order; delivery is at most once, so the
hub detects gaps by sequence number and fills them from the log.

``publish_frame`` fans out a frame that follows the entries (a signed
checkpoint, server/record.py): ``after`` is the sequence number it covers,
and each node's hub sends it to its subscribers once its channel has
delivered that entry. Frames of one session are published in order and carry
rising ``after`` values, so a node drops a repeat (its own echo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from store import LogEntry

Receiver = Callable[[str, Sequence[LogEntry]], None]
FrameReceiver = Callable[[str, int, bytes], None]  # (session id, after sequence, frame)


class Broker(Protocol):
    async def start(self, receiver: Receiver, frames: FrameReceiver | None = None) -> None:
        """Begin delivering published entries (and frames) of subscribed sessions."""

    async def close(self) -> None: ...

    async def publish(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        """Fan committed entries out to every node subscribed to the session."""

    async def publish_frame(self, session_id: str, after: int, frame: bytes) -> None:
        """Fan a frame that follows entry ``after`` out to every node subscribed to the session."""

    async def subscribe(self, session_id: str) -> None:
        """This node has clients of the session (called when the first arrives)."""

    async def unsubscribe(self, session_id: str) -> None:
        """This node's last client of the session left."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached (for ``/readyz``)."""


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


def create_broker(redis_url: str | None, *, prefix: str = "courtroom:") -> Broker:
    """The adapter named by configuration; Redis is imported only when asked for."""
    if not redis_url:
        return MemoryBroker()
    from server.fanout_redis import RedisBroker

    return RedisBroker(redis_url, prefix=prefix + "session:")
