"""Wire error codes and WebSocket close codes (PROTOCOL.md section 2)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    TOO_LARGE = 1009
    INTERNAL = 1011
    OVERLOADED = 1013
    TOO_SLOW = 4001
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404

    @property
    def reconnect(self) -> bool:
        """Whether a client should reconnect after this close (with ``resume_from``)."""
        return self in _RECONNECT


_RECONNECT = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.INTERNAL, CloseCode.OVERLOADED, CloseCode.TOO_SLOW}
)
