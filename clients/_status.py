"""How a connection changes and ends: the status reports and close-code helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import ConnectionClosed

from clients._messages import Welcome
from protocol import CloseCode

__all__ = ["ABNORMAL_CLOSURE", "ConnectionStatus", "close_of", "handshake_refusal"]

ABNORMAL_CLOSURE = 1006  # RFC 6455: no close frame (never sent on the wire)

StatusName = Literal["connecting", "connected", "disconnected", "closed"]


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """A change of the connection, as reported to ``on_status``.

    Attributes:
        state: ``connecting`` (an attempt starts), ``connected`` (welcome
            received), ``disconnected`` (will reconnect after ``delay`` seconds),
            ``closed`` (for good).
        attempt: the reconnect attempt number (0 for the first connection).
        code: the close code that ended the last connection, if any.
        reason: its reason or what went wrong.
        delay: seconds until the next attempt (``disconnected`` only).
        welcome: the welcome (``connected`` only).
    """

    state: StatusName
    attempt: int = 0
    code: int | None = None
    reason: str = ""
    delay: float | None = None
    welcome: Welcome | None = None


def close_of(exc: ConnectionClosed) -> tuple[int, str]:
    """The code and reason the peer closed with (1006 when no close frame came)."""
    if exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    return ABNORMAL_CLOSURE, "connection lost"


def handshake_refusal(status: int) -> tuple[int, str]:
    """Map an HTTP refusal of the upgrade to the close code it stands for."""
    if status >= 500 or status == 429:
        return CloseCode.OVERLOADED, f"HTTP {status} on the WebSocket handshake"
    code = {401: CloseCode.UNAUTHORIZED, 403: CloseCode.FORBIDDEN, 404: CloseCode.NOT_FOUND}
    return code.get(status, CloseCode.POLICY), f"HTTP {status} on the WebSocket handshake"
