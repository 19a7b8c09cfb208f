"""The broker port: how committed entries reach every node's hub.

``MemoryBroker`` serves one process. The Redis adapter (``fanout_redis``)
implements the same port across nodes; ``broker_factory`` picks one from the
configuration. This module never imports the Redis adapter, so the two form
no import cycle. Contract, as centrifuge's ``Broker``:
``publish`` is called only after the entries' transaction committed, with
consecutive entries of one session in order; delivery is at most once, so the
hub detects gaps by sequence number and fills them from the log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from store import LogEntry

Receiver = Callable[[str, Sequence[LogEntry]], None]


class Broker(Protocol):
    async def start(self, receiver: Receiver) -> None:
        """Begin delivering published entries of subscribed sessions to ``receiver``."""

    async def close(self) -> None: ...

    async def publish(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        """Fan committed entries out to every node subscribed to the session."""

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
        self._subscribed: set[str] = set()

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def close(self) -> None:
        self._receiver = None
        self._subscribed.clear()

    async def publish(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        if self._receiver is not None and session_id in self._subscribed:
            self._receiver(session_id, entries)

    async def subscribe(self, session_id: str) -> None:
        self._subscribed.add(session_id)

    async def unsubscribe(self, session_id: str) -> None:
        self._subscribed.discard(session_id)

    async def ping(self) -> None:
        return None
