"""Decode client frames into typed messages; encode server frames with orjson.

``decode`` never raises anything but :class:`ProtocolError` (or its
``FrameTooLarge``): a bad frame is refused, it never becomes a ``KeyError``
deep inside the server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from protocol._chain import check_details
from protocol._codes import ErrorCode
from protocol._messages import (
    PARTICIPANT_ROLES,
    PROTOCOL_VERSION,
    ClientMessage,
    Hello,
    Leave,
    LogEvent,
    Ping,
    RoundAbort,
    RoundStart,
    SessionComplete,
    SessionPause,
    SessionResume,
    SessionStart,
    TurnForceSubmit,
    TurnStart,
    TurnSubmit,
)
from protocol.errors import FrameTooLarge, ProtocolError

DEFAULT_MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT_CHARS = 50_000  # a transcript; anything longer is not a speech
MAX_SHORT_CHARS = 500  # reasons, event types, ids

_INT_MAX = 2**53  # what a JavaScript client can represent exactly
# ASCII only: str.isupper() and str.isdigit() also accept "Ä" and "²".
_EVENT_TYPE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _field(obj: Mapping[str, Any], name: str, kind: str, *, required: bool = True) -> Any:
    if name not in obj or obj[name] is None:
        if required:
            raise ProtocolError(f"field {name!r} is required")
        return None
    value = obj[name]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _INT_MAX:
            raise ProtocolError(f"field {name!r} must be an integer")
    elif kind == "str" or kind == "text":
        limit = MAX_TEXT_CHARS if kind == "text" else MAX_SHORT_CHARS
        if not isinstance(value, str):
            raise ProtocolError(f"field {name!r} must be a string")
        if len(value) > limit:
            raise ProtocolError(f"field {name!r} is longer than {limit} characters")
    else:  # pragma: no cover - programming error in the table below
        raise AssertionError(kind)
    return value


def _id(obj: Mapping[str, Any]) -> int | None:
    value: int | None = _field(obj, "id", "int", required=False)
    return value


def _event_type(obj: Mapping[str, Any]) -> str:
    value: str = _field(obj, "event_type", "str")
    if not value or len(value) > 50 or not all(c in _EVENT_TYPE_CHARS for c in value):
        raise ProtocolError("event_type must be 1-50 characters of A-Z, 0-9 and _")
    return value


def _hello(o: Mapping[str, Any]) -> Hello:
    v = _field(o, "v", "int")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {v}; this server speaks {PROTOCOL_VERSION}"
        )
    as_ = _field(o, "as", "str")
    if as_ not in ("participant", "observer"):
        raise ProtocolError("field 'as' must be 'participant' or 'observer'")
    token = _field(o, "token", "text", required=False)
    role = _field(o, "role", "str", required=as_ == "participant")
    if role is not None and role not in PARTICIPANT_ROLES:
        raise ProtocolError(f"field 'role' must be one of {', '.join(PARTICIPANT_ROLES)}")
    speaker = _field(o, "speaker", "int", required=False)
    if speaker is not None and not 1 <= speaker <= 4:
        raise ProtocolError("field 'speaker' must be 1 to 4")
    resume_from = _field(o, "resume_from", "int", required=False)
    if resume_from is not None and resume_from < 0:
        raise ProtocolError("field 'resume_from' must be 0 or more")
    return Hello(
        v=v,
        token=token,
        as_=as_,
        role=role if as_ == "participant" else None,
        speaker=speaker,
        resume_from=resume_from,
        id=_id(o),
    )


def _log(o: Mapping[str, Any]) -> LogEvent:
    details = o.get("details", {})
    return LogEvent(event_type=_event_type(o), details=check_details(details), id=_id(o))


def _word_count(o: Mapping[str, Any]) -> int | None:
    wc: int | None = _field(o, "word_count", "int", required=False)
    if wc is not None and wc < 0:
        raise ProtocolError("field 'word_count' must be 0 or more")
    return wc


_DECODERS: dict[str, Callable[[Mapping[str, Any]], ClientMessage]] = {
    "hello": _hello,
    "ping": lambda o: Ping(id=_id(o)),
    "leave": lambda o: Leave(id=_id(o)),
    "session.start": lambda o: SessionStart(id=_id(o)),
    "session.pause": lambda o: SessionPause(id=_id(o)),
    "session.resume": lambda o: SessionResume(id=_id(o)),
    "session.complete": lambda o: SessionComplete(id=_id(o)),
    "log": _log,
    "round.start": lambda o: RoundStart(round_id=_field(o, "round_id", "str"), id=_id(o)),
    "round.abort": lambda o: RoundAbort(
        round_id=_field(o, "round_id", "str"), reason=_field(o, "reason", "str"), id=_id(o)
    ),
    "turn.start": lambda o: TurnStart(turn_id=_field(o, "turn_id", "str"), id=_id(o)),
    "turn.submit": lambda o: TurnSubmit(
        turn_id=_field(o, "turn_id", "str"),
        transcript=_field(o, "transcript", "text"),
        word_count=_word_count(o),
        id=_id(o),
    ),
    "turn.force_submit": lambda o: TurnForceSubmit(
        turn_id=_field(o, "turn_id", "str"),
        transcript=_field(o, "transcript", "text"),
        reason=_field(o, "reason", "str"),
        word_count=_word_count(o),
        id=_id(o),
    ),
}

CLIENT_TYPES: frozenset[str] = frozenset(_DECODERS)


def peek_id(frame: str | bytes) -> int | None:
    """Best-effort ``id`` of a frame that failed to decode, so the error can carry ``ref``."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def decode(frame: str | bytes, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> ClientMessage:
    """Decode one client frame.

    Raises:
        FrameTooLarge: the frame is over ``max_bytes``.
        ProtocolError: anything else wrong with it.
    """
    # surrogatepass: text with a lone surrogate (no UTF-8 decoder lets one through,
    # but a caller might) is measured, then refused by the parser, never a UnicodeError.
    size = len(frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame)
    if size > max_bytes:
        raise FrameTooLarge(f"frame of {size} bytes is over the limit of {max_bytes}")
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("field 'type' is required and must be a string")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtocolError(f"unknown message type {kind[:50]!r}")
    return decoder(obj)


# Server frames. Each returns the encoded bytes, ready to send to many sockets.


def encode(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps(message)


def event_frame(entry: Mapping[str, Any]) -> bytes:
    """An ``event`` frame: the entry's section 1 fields plus ``type``."""
    return orjson.dumps({"type": "event", **entry})


def tick_frame(
    *, turn_id: str, remaining_ms: int, running: bool, sequence_number: int, server_time_ms: int
) -> bytes:
    return orjson.dumps(
        {
            "type": "tick",
            "turn_id": turn_id,
            "remaining_ms": remaining_ms,
            "running": running,
            "sequence_number": sequence_number,
            "server_time_ms": server_time_ms,
        }
    )


def reply_frame(ref: int | None, result: Any, *, server_time_ms: int) -> bytes:
    return orjson.dumps(
        {
            "type": "reply",
            "ref": ref,
            "ok": True,
            "result": result,
            "server_time_ms": server_time_ms,
        }
    )


def error_frame(
    ref: int | None, code: ErrorCode | str, message: str, *, temporary: bool = False
) -> bytes:
    return orjson.dumps(
        {
            "type": "error",
            "ref": ref,
            "code": str(code),
            "message": message,
            "temporary": temporary,
        }
    )


def pong_frame(ref: int | None, *, server_time_ms: int) -> bytes:
    return orjson.dumps({"type": "pong", "ref": ref, "server_time_ms": server_time_ms})


def welcome_frame(
    *,
    session: Mapping[str, Any],
    head_sequence: int,
    head_hash: str,
    recovered: bool | None,
    server_time_ms: int,
    you: Mapping[str, Any],
) -> bytes:
    return orjson.dumps(
        {
            "type": "welcome",
            "v": PROTOCOL_VERSION,
            "session": session,
            "head": {"sequence_number": head_sequence, "hash": head_hash},
            "recovered": recovered,
            "server_time_ms": server_time_ms,
            "you": you,
        }
    )
