"""Typed server messages, as the client sees them (PROTOCOL.md section 2).

Each server frame becomes one frozen, slotted dataclass. :func:`parse_frame`
is the only way in and raises nothing but :class:`protocol.errors.ProtocolError`:
a server that breaks the contract is refused at the edge instead of surfacing
as a ``KeyError`` inside a user's ``async for`` loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from protocol.errors import ProtocolError

__all__ = [
    "Event",
    "Pong",
    "Reply",
    "ServerError",
    "ServerMessage",
    "Tick",
    "Welcome",
    "parse_frame",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One committed log entry: exactly the section 1 fields.

    ``as_entry()`` gives the mapping that chain v1 hashes, so an event the
    client received can be verified (or written to an export) as is.
    """

    TYPE: ClassVar[str] = "event"
    session_id: str
    sequence_number: int
    timestamp: str
    event_type: str
    actor_id: str | None
    details: dict[str, Any] = field(hash=False)
    previous_hash: str
    hash: str

    def as_entry(self) -> dict[str, Any]:
        """The entry as a mapping of the section 1 fields (no ``type``)."""
        return {
            "session_id": self.session_id,
            "sequence_number": self.sequence_number,
            "timestamp": self.timestamp,
            "event_type": self.event_type,
            "actor_id": self.actor_id,
            "details": self.details,
            "previous_hash": self.previous_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_entry(cls, obj: dict[str, Any]) -> Event:
        """Build an event from a mapping of the section 1 fields (a frame or an export line).

        Raises:
            ProtocolError: a field is missing or of the wrong type.
        """
        actor = obj.get("actor_id")
        if actor is not None and not isinstance(actor, str | int):
            raise ProtocolError("event field 'actor_id' must be a string or null")
        details = obj.get("details")
        if not isinstance(details, dict):
            raise ProtocolError("event field 'details' must be an object")
        return cls(
            session_id=_str(obj, "session_id"),
            sequence_number=_int(obj, "sequence_number"),
            timestamp=_str(obj, "timestamp"),
            event_type=_str(obj, "event_type"),
            actor_id=None if actor is None else str(actor),
            details=details,
            previous_hash=_str(obj, "previous_hash"),
            hash=_str(obj, "hash"),
        )


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock of a turn, derived by the server from the head ``sequence_number``."""

    TYPE: ClassVar[str] = "tick"
    turn_id: str
    remaining_ms: int
    running: bool
    sequence_number: int
    server_time_ms: int


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server's answer to ``hello``: a snapshot and the head it was taken at."""

    TYPE: ClassVar[str] = "welcome"
    session: dict[str, Any] = field(hash=False)
    head_sequence: int
    head_hash: str
    recovered: bool | None
    server_time_ms: int
    you: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """A command succeeded; ``result`` is what the server reports (usually the new head)."""

    TYPE: ClassVar[str] = "reply"
    ref: int | None
    result: Any = field(hash=False)
    server_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ServerError:
    """A refusal: of the command ``ref``, or of the connection itself when ``ref`` is None."""

    TYPE: ClassVar[str] = "error"
    ref: int | None
    code: str
    message: str
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[str] = "pong"
    ref: int | None
    server_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CheckpointFrame:
    """A signed checkpoint of the log (docs/protocol.md section 4); ``note`` is what is signed."""

    TYPE: ClassVar[str] = "checkpoint"
    session_id: str
    tree_size: int
    root_hash: str
    chain_head: str
    time: str
    key_id: str
    reason: str
    note: str


def _checkpoint(o: dict[str, Any]) -> CheckpointFrame:
    return CheckpointFrame(
        **{k: _str(o, k) for k in ("session_id", "root_hash", "chain_head", "time", "key_id")},
        tree_size=_int(o, "tree_size"),
        reason=str(o.get("reason", "")),
        note=_str(o, "note"),
    )


ServerMessage = Event | Tick | Welcome | Reply | ServerError | Pong | CheckpointFrame


def _str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f"field {name!r} must be a string")
    return value


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"field {name!r} must be an integer")
    return value


def _opt_int(obj: dict[str, Any], name: str) -> int | None:
    return None if obj.get(name) is None else _int(obj, name)


def _welcome(o: dict[str, Any]) -> Welcome:
    head = o.get("head")
    session = o.get("session")
    you = o.get("you") or {}
    if not isinstance(head, dict) or not isinstance(session, dict) or not isinstance(you, dict):
        raise ProtocolError("welcome needs 'head' and 'session' objects")
    recovered = o.get("recovered")
    if recovered is not None and not isinstance(recovered, bool):
        raise ProtocolError("welcome field 'recovered' must be a boolean or null")
    return Welcome(
        session=session,
        head_sequence=_int(head, "sequence_number"),
        head_hash=_str(head, "hash"),
        recovered=recovered,
        server_time_ms=_int(o, "server_time_ms"),
        you=you,
    )


def _tick(o: dict[str, Any]) -> Tick:
    running = o.get("running")
    if not isinstance(running, bool):
        raise ProtocolError("tick field 'running' must be a boolean")
    return Tick(
        turn_id=_str(o, "turn_id"),
        remaining_ms=_int(o, "remaining_ms"),
        running=running,
        sequence_number=_int(o, "sequence_number"),
        server_time_ms=_int(o, "server_time_ms"),
    )


def _error(o: dict[str, Any]) -> ServerError:
    return ServerError(
        ref=_opt_int(o, "ref"),
        code=_str(o, "code"),
        message=str(o.get("message", "")),
        temporary=bool(o.get("temporary", False)),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], ServerMessage]] = {
    "event": Event.from_entry,
    "tick": _tick,
    "welcome": _welcome,
    "reply": lambda o: Reply(
        ref=_opt_int(o, "ref"), result=o.get("result"), server_time_ms=_opt_int(o, "server_time_ms")
    ),
    "error": _error,
    "pong": lambda o: Pong(ref=_opt_int(o, "ref"), server_time_ms=_opt_int(o, "server_time_ms")),
    "checkpoint": _checkpoint,
}


def parse_frame(frame: str | bytes) -> ServerMessage:
    """Parse one server frame.

    Args:
        frame: the text (or bytes) of one WebSocket frame.

    Returns:
        The typed message.

    Raises:
        ProtocolError: the frame is not JSON, not an object, of an unknown
            ``type``, or misses a field of its type.
    """
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON from the server: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a server frame must be a JSON object")
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ProtocolError(f"unknown server message type {str(kind)[:50]!r}")
    message: ServerMessage = parser(obj)
    return message
