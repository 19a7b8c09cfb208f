"""The node's services, built by the app's lifespan and shared by routes and sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.auth import TokenSigner
from server.broker import Broker
from server.clockwork import Clockwork
from server.config import Settings
from server.courtroom import Courtroom
from server.hub import Hub
from server.observers import ObserverGate
from server.presence import PresenceTracker
from store import SessionStore, UserStore

if TYPE_CHECKING:
    from server.ws import Connection


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
    connections: set[Connection] = field(default_factory=set)
    extras: dict[str, Any] = field(default_factory=dict)
