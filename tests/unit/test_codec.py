"""The codec: every good message decodes to its type; every bad one is a ProtocolError."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import protocol as p
from protocol.errors import FrameTooLarge, ProtocolError


def enc(obj: Any) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    "msg,cls",
    [
        ({"type": "hello", "v": 1, "token": None, "as": "observer"}, p.Hello),
        (
            {
                "type": "hello",
                "v": 1,
                "token": "t",
                "as": "participant",
                "role": "petitioner",
                "speaker": 1,
                "resume_from": 4,
            },
            p.Hello,
        ),
        ({"type": "ping", "id": 1}, p.Ping),
        ({"type": "leave"}, p.Leave),
        ({"type": "session.start", "id": 2}, p.SessionStart),
        ({"type": "session.pause"}, p.SessionPause),
        ({"type": "session.resume"}, p.SessionResume),
        ({"type": "session.complete"}, p.SessionComplete),
        ({"type": "log", "event_type": "NOTE", "details": {"a": [1, None]}}, p.LogEvent),
        ({"type": "round.start", "round_id": "r"}, p.RoundStart),
        ({"type": "round.abort", "round_id": "r", "reason": "x"}, p.RoundAbort),
        ({"type": "turn.start", "turn_id": "t"}, p.TurnStart),
        (
            {"type": "turn.submit", "turn_id": "t", "transcript": "words", "word_count": 1},
            p.TurnSubmit,
        ),
        (
            {"type": "turn.force_submit", "turn_id": "t", "transcript": "", "reason": "gone"},
            p.TurnForceSubmit,
        ),
    ],
)
def test_decodes(msg: dict[str, Any], cls: type) -> None:
    decoded = p.decode(enc(msg))
    assert isinstance(decoded, cls)
    assert p.decode(enc(msg).decode()) == decoded


def test_hello_fields() -> None:
    h = p.decode(
        enc(
            {
                "type": "hello",
                "v": 1,
                "token": "t",
                "as": "participant",
                "role": "judge",
                "resume_from": 0,
                "id": 9,
            }
        )
    )
    assert isinstance(h, p.Hello)
    assert (h.as_, h.role, h.resume_from, h.id) == ("participant", "judge", 0, 9)


@pytest.mark.parametrize(
    "frame,match",
    [
        (b"not json", "malformed JSON"),
        (b"[1,2]", "JSON object"),
        (enc({"no": "type"}), "'type'"),
        (enc({"type": 5}), "'type'"),
        (enc({"type": "launch.missiles"}), "unknown message type"),
        (enc({"type": "ping", "id": "one"}), "'id' must be an integer"),
        (enc({"type": "ping", "id": True}), "'id' must be an integer"),
        (enc({"type": "ping", "id": 2**60}), "'id' must be an integer"),
        (enc({"type": "hello", "v": 2, "as": "observer"}), "version"),
        (enc({"type": "hello", "v": 1, "as": "spy"}), "'as'"),
        (enc({"type": "hello", "v": 1, "as": "participant"}), "'role' is required"),
        (enc({"type": "hello", "v": 1, "as": "participant", "role": "king"}), "'role' must be"),
        (enc({"type": "hello", "v": 1, "as": "observer", "speaker": 9}), "'speaker'"),
        (enc({"type": "hello", "v": 1, "as": "observer", "resume_from": -1}), "'resume_from'"),
        (enc({"type": "hello", "v": 1, "as": "observer", "token": 5}), "'token' must be a string"),
        (enc({"type": "log", "event_type": "bad type"}), "event_type"),
        (enc({"type": "log", "event_type": "NOTE", "details": {"f": 1.5}}), "floats"),
        (enc({"type": "log", "event_type": "NOTE", "details": [1]}), "object"),
        (enc({"type": "round.start"}), "'round_id' is required"),
        (enc({"type": "round.abort", "round_id": "r"}), "'reason' is required"),
        (enc({"type": "turn.submit", "turn_id": "t"}), "'transcript' is required"),
        (
            enc({"type": "turn.submit", "turn_id": "t", "transcript": "x", "word_count": -1}),
            "word_count",
        ),
        (enc({"type": "turn.submit", "turn_id": "t", "transcript": "x" * 60_000}), "longer than"),
        (enc({"type": "turn.start", "turn_id": ["t"]}), "must be a string"),
    ],
)
def test_refuses(frame: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        p.decode(frame)


def test_frame_size_limit() -> None:
    big = enc({"type": "log", "event_type": "NOTE", "details": {"x": "y" * 100}})
    with pytest.raises(FrameTooLarge):
        p.decode(big, max_bytes=50)
    assert isinstance(p.decode(big, max_bytes=len(big)), p.LogEvent)


def test_peek_id() -> None:
    assert p.peek_id(enc({"type": "nope", "id": 4})) == 4
    assert p.peek_id(b"garbage") is None
    assert p.peek_id(enc([1])) is None
    assert p.peek_id(enc({"id": True})) is None


def test_server_frames_round_trip() -> None:
    assert orjson.loads(p.pong_frame(3, server_time_ms=10)) == {
        "type": "pong",
        "ref": 3,
        "server_time_ms": 10,
    }
    err = orjson.loads(p.error_frame(None, p.ErrorCode.CONFLICT, "no"))
    assert err == {
        "type": "error",
        "ref": None,
        "code": "conflict",
        "message": "no",
        "temporary": False,
    }
    tick = orjson.loads(
        p.tick_frame(turn_id="t", remaining_ms=5, running=True, sequence_number=2, server_time_ms=1)
    )
    assert tick["type"] == "tick" and tick["remaining_ms"] == 5


def test_close_codes_say_whether_to_reconnect() -> None:
    assert p.CloseCode.TOO_SLOW.reconnect and p.CloseCode.GOING_AWAY.reconnect
    assert not p.CloseCode.UNAUTHORIZED.reconnect and not p.CloseCode.POLICY.reconnect


def test_exports() -> None:
    import protocol
    import store
    import timers

    for module in (protocol, store, timers):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
