"""The node's services, built by the app's lifespan and shared by routes and sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from server.auth import TokenSigner
from server.broker import Broker
from server.clockwork import Clockwork
from server.config import Settings
from server.courtroom import Courtroom
from server.hub import Hub
from server.observers import ObserverGate
from server.presence import PresenceTracker
from store import SessionStore, UserStore


class LiveSocket(Protocol):
    """An open WebSocket as the node counts it (session and board sockets): the
    connection cap counts them, and shutdown closes them with 1001."""

    async def close(self, code: int, reason: str = "") -> None: ...


@dataclass(slots=True)
class Services:
    settings: Settings
    store: SessionStore
    users: UserStore
    broker: Broker
    courtroom: Courtroom
    hub: Hub
    clockwork: Clockwork
    signer: TokenSigner
    presence: PresenceTracker
    observers: ObserverGate
    connections: set[LiveSocket] = field(default_factory=set)
    extras: dict[str, Any] = field(default_factory=dict)
