"""Fuzzing the wire's decoders: whatever the bytes, only the typed protocol errors escape.

Hypothesis drives four decoders with raw bytes, text with lone surrogates,
JSON-shaped frames of every wrong type and size, and mutations of good frames:

- ``protocol.decode`` (every client frame the server reads) raises nothing but
  ``ProtocolError`` (``FrameTooLarge`` included), and what it accepts meets the
  contract (integers within 2**53, strings within their limits, event types of
  A-Z, 0-9 and _, details that re-encode);
- ``protocol.peek_id`` (used on frames that failed to decode) raises nothing;
- ``clients.parse_frame`` (every server frame the client reads) raises nothing
  but ``ProtocolError``;
- ``server.live.frames.text_frame`` builds a frame that a WebSocket parser reads
  back as the same text message.

The real server under a flood of malformed frames is
``tests/integration/test_malformed_frames.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings, strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

import protocol as p
from clients._messages import parse_frame
from protocol._codec import MAX_SHORT_CHARS, MAX_TEXT_CHARS
from protocol.errors import FrameTooLarge, ProtocolError
from server.live.frames import text_frame

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENT_TYPE = re.compile(r"[A-Z0-9_]{1,50}")
FIELDS = (
    "id",
    "v",
    "as",
    "token",
    "role",
    "speaker",
    "resume_from",
    "event_type",
    "details",
    "round_id",
    "reason",
    "turn_id",
    "transcript",
    "word_count",
)
GOOD: list[dict[str, Any]] = [
    {"type": "hello", "v": 1, "token": None, "as": "observer", "resume_from": 0},
    {"type": "hello", "v": 1, "token": "t", "as": "participant", "role": "judge"},
    {"type": "ping", "id": 1},
    {"type": "session.pause", "id": 2},
    {"type": "log", "event_type": "NOTE", "details": {"a": [1, None, "x"], "b": {"c": True}}},
    {"type": "round.abort", "round_id": "r", "reason": "x"},
    {"type": "turn.submit", "turn_id": "t", "transcript": "words", "word_count": 1},
    {"type": "turn.force_submit", "turn_id": "t", "transcript": "", "reason": "gone"},
]

# Every code point, lone surrogates (category Cs) included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
lone_surrogate = st.integers(0xD800, 0xDFFF).map(chr)
huge_ints = st.integers(min_value=-(2**80), max_value=2**80) | st.sampled_from(
    [2**53, 2**53 + 1, -(2**53) - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | huge_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | lone_surrogate
    | st.sampled_from(["observer", "participant", "judge", "petitioner", "NOTE", "", "x" * 600])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
frame_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(p.CLIENT_TYPES)) | any_text | scalars},
    optional={name: json_values for name in FIELDS},
)


def _serialise(obj: Any, how: str) -> str | bytes:
    """JSON text as a sloppy client would send it: escapes, NaN and all."""
    if how == "orjson":
        try:
            return orjson.dumps(obj)
        except orjson.JSONEncodeError:  # lone surrogates, huge ints: fall back
            return json.dumps(obj)
    return json.dumps(obj, ensure_ascii=how == "ascii")


def check_decode(frame: str | bytes) -> None:
    """Decode; a refusal must be a ProtocolError, an acceptance must meet the contract."""
    try:
        msg = p.decode(frame)
    except ProtocolError:
        return
    assert type(msg).TYPE in p.CLIENT_TYPES
    for f in fields(msg):
        value = getattr(msg, f.name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            assert abs(value) <= 2**53, (f.name, value)
        elif isinstance(value, str):
            limit = MAX_TEXT_CHARS if f.name in ("token", "transcript") else MAX_SHORT_CHARS
            assert len(value) <= limit, f.name
            value.encode()  # no lone surrogate got through
        elif isinstance(value, dict):
            orjson.dumps(value)  # details re-encode exactly, as the chain needs
        else:
            raise AssertionError(f"unexpected {f.name}: {type(value).__name__}")
    if isinstance(msg, p.LogEvent):
        assert EVENT_TYPE.fullmatch(msg.event_type), msg.event_type
    if isinstance(msg, p.Hello):
        assert msg.as_ in ("participant", "observer")
        assert msg.speaker is None or 1 <= msg.speaker <= 4
        assert msg.resume_from is None or msg.resume_from >= 0


@FUZZ
@given(st.binary(max_size=512))
@example(b"")
@example(b"\xed\xa0\x80")  # a UTF-8-encoded lone surrogate
@example(b'{"type":"log","event_type":"NOTE","details":{"a":1e400}}')
@example(b'{"type": "ping", "id": 123456789012345678901234567890}')
@example(b"[" * 2000)
def test_decode_raw_bytes(frame: bytes) -> None:
    check_decode(frame)
    p.peek_id(frame)


@FUZZ
@given(any_text)
@example("\ud800")
@example('{"type": "ping", "id": 1, "x": "\udfff"}')
@example('{"type":"log","event_type":"\u00c4","details":{}}')  # upper case, not A-Z
def test_decode_any_text(frame: str) -> None:
    check_decode(frame)
    p.peek_id(frame)


@FUZZ
@given(frame_objects, st.sampled_from(["orjson", "ascii", "unicode"]))
def test_decode_json_of_wrong_shapes(obj: dict[str, Any], how: str) -> None:
    frame = _serialise(obj, how)
    check_decode(frame)
    check_decode(frame.encode(errors="surrogatepass") if isinstance(frame, str) else frame)
    p.peek_id(frame)


@FUZZ
@given(
    st.sampled_from(GOOD),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("xid")),
        min_size=1,
        max_size=6,
    ),
)
def test_decode_mutated_good_frames(
    good: dict[str, Any], edits: list[tuple[int, int, str]]
) -> None:
    frame = bytearray(orjson.dumps(good))
    for at, byte, op in edits:
        i = at % (len(frame) + 1)
        if op == "x" and i < len(frame):
            frame[i] ^= byte or 1
        elif op == "i":
            frame[i:i] = bytes([byte])
        elif op == "d":
            del frame[i : i + 1 + byte % 8]
    check_decode(bytes(frame))


def test_oversized_frames_are_refused_before_parsing() -> None:
    big = b'{"type":"ping","pad":"' + b"x" * p.DEFAULT_MAX_FRAME_BYTES + b'"}'
    try:
        p.decode(big)
    except FrameTooLarge:
        pass
    else:
        raise AssertionError("an oversized frame was decoded")
    # The size is counted in UTF-8 bytes, even for text a client could not encode.
    try:
        p.decode("\ud800" * (p.DEFAULT_MAX_FRAME_BYTES // 2))
    except FrameTooLarge:
        pass
    else:
        raise AssertionError("an oversized frame was decoded")


server_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["event", "tick", "welcome", "reply", "error", "pong"]) | any_text},
    optional={
        name: json_values
        for name in (
            "session_id",
            "sequence_number",
            "timestamp",
            "event_type",
            "actor_id",
            "details",
            "previous_hash",
            "hash",
            "turn_id",
            "remaining_ms",
            "running",
            "server_time_ms",
            "head",
            "session",
            "recovered",
            "you",
            "ref",
            "ok",
            "result",
            "code",
            "message",
            "temporary",
        )
    },
)


@FUZZ
@given(st.binary(max_size=256) | any_text | server_objects.map(lambda o: _serialise(o, "ascii")))
@example(b'{"type":"event"}')
@example(b'{"type":"welcome","head":{},"session":{}}')
def test_client_parses_any_server_frame_or_refuses_it(frame: str | bytes) -> None:
    try:
        parse_frame(frame)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=70_000))
@example("x" * 125)
@example("x" * 126)
@example("x" * 65_535)
@example("x" * 65_536)
def test_server_text_frames_parse_back(text: str) -> None:
    payload = text.encode()
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was incomplete")
    assert frame.opcode == Opcode.TEXT and frame.fin and frame.data == payload
