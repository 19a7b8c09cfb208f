"""The broker port: how committed entries reach every node's hub.

``server/live/broker.py`` implements it in one process (``MemoryBroker``) and
picks the adapter named by configuration; ``server/live/fanout_redis.py``
implements it across nodes. The port lives apart from both so that the Redis
adapter depends on it alone, never on the module that imports the adapter.
Contract, as centrifuge's ``Broker``: ``publish`` is called only after the
entries' transaction committed, with consecutive entries of one session in
order; delivery is at most once, so the hub detects gaps by sequence number and
fills them from the log.

``publish_frame`` fans out a frame that follows the entries (a signed
checkpoint, server/live/record.py): ``after`` is the sequence number it covers,
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
