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


class Closable(Protocol):
    """What shutdown needs of an open socket: ``ws.Connection`` is one.

    A port rather than an import of ``server.ws``, so that the endpoint depends
    on the services and not the reverse (no import cycle).
    """

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
    connections: set[Closable] = field(default_factory=set)
    extras: dict[str, Any] = field(default_factory=dict)
