"""The node's services, built by the app's lifespan and shared by routes and sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from server.common.auth import TokenSigner
from server.common.config import Settings
from server.live.broker import Broker
from server.live.clockwork import Clockwork
from server.live.courtroom import Courtroom
from server.live.hub import Hub
from server.live.observers import ObserverGate
from server.live.presence import PresenceTracker
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
