"""The pre-built frames of the direct path are what a WebSocket library would send."""

from __future__ import annotations

from hypothesis import given, strategies as st
from websockets.frames import Frame, Opcode

from server.live.frames import OutFrame, text_frame


@given(st.text(max_size=300) | st.sampled_from(["", "x" * 125, "x" * 126, "é" * 40000]))
def test_text_frame_matches_websockets_serialisation(text: str) -> None:
    payload = text.encode()
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected


def test_length_boundaries() -> None:
    for n in (0, 125, 126, 65535, 65536, 70000):
        wire = text_frame(b"a" * n)
        parsed_len = (
            wire[1]
            if wire[1] < 126
            else int.from_bytes(wire[2:4] if wire[1] == 126 else wire[2:10])
        )
        assert parsed_len == n and wire.endswith(b"a" * n) and wire[0] == 0x81


def test_outframe_builds_each_form_once() -> None:
    event, tick = OutFrame(b'{"type":"event"}'), OutFrame(b'{"type":"tick"}')
    assert event.text == '{"type":"event"}' and event.text is event.text
    assert event.wire is event.wire
    joined = event.wire_then(tick)
    assert joined == event.wire + tick.wire and event.wire_then(tick) is joined
    other = OutFrame(b"{}")
    assert event.wire_then(other) == event.wire + other.wire
