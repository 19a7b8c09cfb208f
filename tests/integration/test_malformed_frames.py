"""A real server under a flood of malformed frames keeps its honest observer whole.

More than 50,000 malformed frames go to one real ``courtroom serve`` process over
hundreds of connections: bad JSON, wrong types, huge numbers, lone surrogates
(escaped, and as invalid UTF-8), binary frames, frames before hello, commands
with wrong ids or from observers, wrong session ids, oversized frames and
reserved opcodes. Meanwhile a judge logs notes over HTTP and one honest
observer stays connected.

- Every malformed frame after ``hello`` gets exactly one typed ``error`` and the
  connection stays; every one that must end a connection ends it with its
  documented close code.
- The honest observer receives every entry of the session, in order, with a
  valid chain, identical to the export; nothing a malformed frame asked for
  was written.
- The server's log holds no traceback.

The flooding clients speak raw RFC 6455 over asyncio streams, with each frame
built once, so the test's own CPU goes to the server and it runs in seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from protocol import verify_entries
from tests.integration.procs import ServerProcess, judge_server

pytestmark = pytest.mark.integration
PASSWORD = "password-123"

# Each connection sends its frames at once: the first ones (the per-connection
# burst, 60 today) are decoded and refused as malformed, the rest are refused by
# the rate limit before decoding. Both must answer every frame with one error.
# Fewer, fuller connections keep the run short: a connection's arrival and
# departure (presence, the observer log entries) cost more than its frames.
FLOOD_CONNECTIONS = 400
FRAMES_PER_CONNECTION = 130
CONCURRENCY = 48
NOTES = 150

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MASK = b"\x5a\xc3\x17\x9e"


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 section 5.2)."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    key = (_MASK * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return header + _MASK + masked


def text(obj: Any) -> bytes:
    return ws_frame(OP_TEXT, obj if isinstance(obj, bytes) else json.dumps(obj).encode())


HELLO = {"type": "hello", "v": 1, "token": None, "as": "observer"}

# Malformed frames after hello: each gets one error, and the connection stays.
STAYING: list[bytes] = [
    # bad JSON
    text(b'{"type": "ping"'),
    text(b"nul"),
    text(b'{"type":"ping",}'),
    text(b""),
    text(b"[" * 5000),
    text(b"\x00\x01garbage"),
    # wrong types
    text([]),
    text("ping"),
    text(5),
    text(None),
    text({"type": 5}),
    text({"type": "ping", "id": "seven"}),
    text({"type": "ping", "id": True}),
    text({"type": "log", "event_type": 7, "details": {}}),
    text({"type": "log", "event_type": "NOTE", "details": [1, 2]}),
    text({"type": "log", "event_type": "note lower", "details": {}}),
    text({"type": "turn.start", "turn_id": [1]}),
    text({"type": "turn.submit", "turn_id": "t", "transcript": 7}),
    text({"type": "round.abort", "round_id": "r"}),
    text({"type": "session.destroy"}),
    text(HELLO),  # hello again
    # huge numbers
    text(b'{"type":"ping","id":1e400}'),
    text(b'{"type":"ping","id":123456789012345678901234567890}'),
    text({"type": "ping", "id": 2**53 + 1}),
    text({"type": "log", "event_type": "NOTE", "details": {"n": 1.5e308}}),
    text({"type": "turn.submit", "turn_id": "t", "transcript": "", "word_count": -(2**60)}),
    # lone surrogates, escaped (the frame itself is valid UTF-8)
    text(b'{"type":"log","event_type":"NOTE","details":{"t":"\\ud800"}}'),
    text(b'{"type":"ping","id":1,"x":"\\udfff"}'),
    text(b'{"type":"round.start","round_id":"\\udbff\\u0041"}'),
    # binary frames
    ws_frame(OP_BINARY, json.dumps({"type": "ping", "id": 1}).encode()),
    ws_frame(OP_BINARY, os.urandom(300)),
    # too long for a field, yet under the frame limit
    text({"type": "round.start", "round_id": "x" * 600}),
    text({"type": "turn.submit", "turn_id": "t", "transcript": "w" * 50_001}),
    # well-formed, but wrong ids or not an observer's to send: refused, nothing written
    text({"type": "turn.start", "turn_id": str(uuid.uuid4()), "id": 3}),
    text({"type": "round.start", "round_id": str(uuid.uuid4())}),
    text({"type": "session.complete", "id": 4}),
    text({"type": "log", "event_type": "FORGED", "details": {"by": "observer"}}),
]

# Malformed input that must end its connection: (path, frames, allowed close codes).
WRONG_SID = str(uuid.uuid4())


def closing_cases(sid: str) -> list[tuple[str, bytes, set[int]]]:
    live = f"/ws/sessions/{sid}"
    hello = text(HELLO)
    return [
        # frames before hello
        (live, text(b"{not json"), {1008}),
        (live, text({"type": "session.start", "id": 1}), {1008}),
        (live, ws_frame(OP_BINARY, b"\x00\xff" * 10), {1008}),
        (live, text(b'{"type":"hello","v":1e400,"as":"observer"}'), {1008}),
        (live, text({"type": "hello", "v": 99, "as": "observer"}), {1008}),
        (live, text({**HELLO, "token": "not-a-token"}), {4401}),
        # wrong session ids
        (f"/ws/sessions/{WRONG_SID}", hello, {4404}),
        ("/ws/sessions/not-a-session", hello, {4404, 1008}),
        ("/ws/sessions/" + "9" * 300, hello, {4404, 1008}),
        # oversized frames (over COURTROOM_MAX_FRAME_BYTES, 64 KiB)
        (live, hello + text(b'{"type":"ping","pad":"' + b"x" * 70_000 + b'"}'), {1009}),
        (live, hello + ws_frame(OP_BINARY, b"\x00" * 70_000), {1009}),
        (live, text(b" " * 70_000), {1009}),
        # invalid UTF-8 in a text frame: a lone surrogate, encoded
        (live, hello + text(b'{"type":"ping","x":"\xed\xa0\x80"}'), {1007}),
        (live, text(b"\xff\xfe"), {1007}),
        # not a data frame the protocol allows
        (live, hello + ws_frame(0x3, b"{}"), {1002}),
        (live, hello + ws_frame(OP_CONT, b"{}"), {1002}),
    ]


CLOSING_REPEATS = 12


class RawSocket:
    """Just enough of a WebSocket client to send frames no library would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()  # read in large chunks: the test's CPU is the server's

    @classmethod
    async def open(cls, port: int, path: str) -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:200]
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame (unmasked, unfragmented): (opcode, payload)."""
        while True:
            buf = self.buf
            if len(buf) >= 2:
                n, at = buf[1] & 0x7F, 2
                if n == 126 and len(buf) >= 4:
                    (n,), at = struct.unpack_from("!H", buf, 2), 4
                elif n == 127 and len(buf) >= 10:
                    (n,), at = struct.unpack_from("!Q", buf, 2), 10
                if (buf[1] & 0x7F) < 126 or at > 2:
                    if len(buf) >= at + n:
                        op, payload = buf[0] & 0x0F, bytes(buf[at : at + n])
                        del buf[: at + n]
                        return op, payload
            chunk = await self.reader.read(1 << 16)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(buf), None)
            buf += chunk

    async def data(self) -> bytes:
        """The next text message's payload; answers the server's keepalive pings."""
        while True:
            op, payload = await self.frame()
            if op == OP_PING:
                self.writer.write(ws_frame(OP_PONG, payload))
            elif op != OP_PONG:
                assert op == OP_TEXT, (op, payload[:100])
                return payload

    async def close_code(self) -> int:
        """Read to the server's close frame; its code (1006 if the socket just ended)."""
        try:
            while True:
                op, payload = await self.frame()
                if op == OP_CLOSE:
                    return int(struct.unpack("!H", payload[:2])[0]) if payload else 1005
        except (asyncio.IncompleteReadError, ConnectionError):
            return 1006

    def shut(self) -> None:
        self.writer.close()


async def flood_one(port: int, sid: str, frames: list[bytes], codes: Counter[str]) -> None:
    """hello, then every frame at once; expect one error per frame and an open socket."""
    sock = await RawSocket.open(port, f"/ws/sessions/{sid}")
    try:
        sock.writer.write(text(HELLO) + b"".join(frames))
        errors = 0
        welcomed = False
        while errors < len(frames):
            payload = await sock.data()
            if payload.startswith(b'{"type":"welcome"'):
                welcomed = True
            elif payload.startswith(b'{"type":"error"'):
                assert welcomed
                codes[orjson.loads(payload)["code"]] += 1
                errors += 1
        # Still open and serving: a ping after the flood gets its pong, or the
        # rate limit's error while the connection's burst is spent.
        sock.writer.write(text({"type": "ping", "id": 99}))
        while True:
            msg = orjson.loads(await sock.data())
            if msg["type"] in ("pong", "error"):
                assert msg["ref"] == 99 if msg["type"] == "pong" else msg["temporary"], msg
                break
        sock.writer.write(ws_frame(OP_CLOSE, struct.pack("!H", 1000)))
        assert await sock.close_code() == 1000
    finally:
        sock.shut()


async def close_one(port: int, path: str, payload: bytes, allowed: set[int]) -> int:
    sock = await RawSocket.open(port, path)
    try:
        sock.writer.write(payload)
        code = await sock.close_code()
        assert code in allowed, (path[:60], payload[:80], code)
        return code
    finally:
        sock.shut()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with judge_server(tmp_path_factory.mktemp("malformed"), PASSWORD) as proc:
        yield proc


async def test_a_flood_of_malformed_frames(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        r = await http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        sid = (await http.post("/api/session/create", json={"title": "flood"}, headers=h)).json()[
            "id"
        ]
        assert (await http.post(f"/api/session/{sid}/start", headers=h)).status_code == 200

        received: list[dict[str, Any]] = []
        async with connect(f"{server.ws_base}/ws/sessions/{sid}", max_size=2**22) as honest:
            await honest.send(json.dumps({**HELLO, "resume_from": 0}))
            assert json.loads(await honest.recv())["type"] == "welcome"

            async def observe() -> None:
                async for raw in honest:
                    msg = json.loads(raw)
                    if msg["type"] == "event":
                        received.append(msg)

            watcher = asyncio.create_task(observe())

            async def notes() -> None:
                for i in range(NOTES):
                    r = await http.post(
                        f"/api/session/{sid}/log",
                        json={"event_type": "NOTE", "details": {"i": i}},
                        headers=h,
                    )
                    assert r.status_code == 200, r.text
                    await asyncio.sleep(0)

            codes: Counter[str] = Counter()
            closes: Counter[int] = Counter()
            gate = asyncio.Semaphore(CONCURRENCY)
            sent = 0

            async def flood(i: int) -> None:
                nonlocal sent
                frames = [STAYING[(i + k) % len(STAYING)] for k in range(FRAMES_PER_CONNECTION)]
                async with gate:
                    await flood_one(server.port, sid, frames, codes)
                sent += len(frames)

            async def close(path: str, payload: bytes, allowed: set[int]) -> None:
                nonlocal sent
                async with gate:
                    closes[await close_one(server.port, path, payload, allowed)] += 1
                sent += 1

            cases = closing_cases(sid) * CLOSING_REPEATS
            await asyncio.wait_for(
                asyncio.gather(
                    notes(),
                    *(flood(i) for i in range(FLOOD_CONNECTIONS)),
                    *(close(*case) for case in cases),
                ),
                timeout=240,
            )
            assert sent >= 50_000
            assert sum(codes.values()) == FLOOD_CONNECTIONS * FRAMES_PER_CONNECTION
            assert set(codes) <= {
                "bad_request",
                "too_large",
                "forbidden",
                "not_found",
                "conflict",
                "rate_limited",
            }
            decoded = sum(n for code, n in codes.items() if code != "rate_limited")
            assert decoded >= 10_000 and codes["bad_request"] > codes["forbidden"] > 0
            assert sum(closes.values()) == len(cases)

            # Departures are logged just after each close: wait until every flood
            # observer that was logged in has been logged out again.
            entries: list[dict[str, Any]] = []
            for _ in range(300):
                body = (await http.get(f"/api/session/{sid}/export", headers=h)).content
                entries = [orjson.loads(line) for line in body.splitlines()]
                joined = sum(
                    e["details"]["count"] for e in entries if e["event_type"] == "OBSERVER_JOINED"
                )
                left = sum(
                    e["details"]["count"] for e in entries if e["event_type"] == "OBSERVER_LEFT"
                )
                if joined == left + 1:  # the honest observer is still here
                    break
                await asyncio.sleep(0.1)
            assert joined == left + 1 and joined >= FLOOD_CONNECTIONS + 1

            head = entries[-1]["sequence_number"]
            for _ in range(300):
                if received and received[-1]["sequence_number"] >= head:
                    break
                await asyncio.sleep(0.05)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    # Every entry, in order, exactly as exported, on a valid chain.
    assert [{k: v for k, v in m.items() if k != "type"} for m in received] == entries
    assert [e["sequence_number"] for e in entries] == list(range(1, head + 1))
    assert verify_entries(entries).valid
    # Nothing a malformed frame asked for was written.
    kinds = Counter(e["event_type"] for e in entries)
    assert set(kinds) == {
        "SESSION_CREATED",
        "SESSION_STARTED",
        "NOTE",
        "OBSERVER_JOINED",
        "OBSERVER_LEFT",
    }
    assert kinds["NOTE"] == NOTES
    assert [e["details"]["i"] for e in entries if e["event_type"] == "NOTE"] == list(range(NOTES))

    logs = server.logs()
    assert "Traceback" not in logs, logs[logs.find("Traceback") - 2000 :][:6000]
    assert "Exception" not in logs
