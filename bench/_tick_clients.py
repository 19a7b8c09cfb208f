"""The client processes of bench_ticks and bench_cluster (``bench_ticks.py --role clients``).

Each holds a share of the observers of every server under test and stamps the
receive time of each frame as it arrives: ``RawClient`` (RFC 6455 by hand, no
reader task per message) by default, ``TimedConnection`` (the ``websockets``
client) as a cross-check. Driven by one JSON command a line on stdin
(``Worker``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from _common import (
    client_role,
    reply,
)
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

TICK = b'{"type":"tick"'


EVENT = b'{"type":"event"'


WELCOME = b'{"type":"welcome"'


HELLO = json.dumps({"type": "hello", "v": 1, "as": "observer"})


Sink = Callable[["Conn", bytes, float], None]


class TimedConnection(ClientConnection):
    """Stamps each chunk on arrival and hands text frames to ``sink`` right there."""

    sink: Sink | None = None
    set_name: str = ""
    pause_rx: float | None = None
    t_rx: float = 0.0
    welcome: bytes = b""

    def data_received(self, data: bytes) -> None:
        self.t_rx = time.time() * 1000.0
        super().data_received(data)

    def process_event(self, event: Event) -> None:
        sink = self.sink
        if sink is not None and isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            data = event.data
            sink(self, data if isinstance(data, bytes) else bytes(data), self.t_rx)
            return
        super().process_event(event)

    @property
    def alive(self) -> bool:
        return self.protocol.state is State.OPEN

    def drop(self) -> None:
        self.transport.abort()


class Conn(Protocol):
    """What the worker needs of a connection, whichever client implementation."""

    set_name: str
    pause_rx: float | None
    welcome: bytes

    @property
    def alive(self) -> bool: ...

    def drop(self) -> None:
        """Go away without a closing handshake (the server sees the socket close)."""


class RawClient(asyncio.Protocol):
    """A minimal WebSocket client for measuring: the RFC 6455 handshake by hand (no
    extension offered: no compression), then a frame parser in ``data_received`` that
    stamps the chunk's arrival and hands each text frame to ``sink``. Pings are
    answered; the close handshake is echoed. No task is woken per message."""

    def __init__(self, host: str, path: str, hello: bytes, sink: Sink, set_name: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: "
            f"{base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.hello = hello
        self.sink = sink
        self.set_name = set_name
        self.pause_rx: float | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.live = False  # after the welcome
        self.welcome = b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None  # uvloop's TCPTransport is not an asyncio.Transport
        self.closed = False

    @property
    def alive(self) -> bool:
        return not self.closed

    def drop(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the welcome ({exc})"))

    def send(self, opcode: int, payload: bytes) -> None:
        key = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(head + key + masked)

    def data_received(self, data: bytes) -> None:
        rx = time.time() * 1000.0
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(buf[:200]).decode("latin-1")))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[: end + 4]
            self.upgraded = True
            self.send(0x1, self.hello)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            ln = buf[pos + 1] & 0x7F
            h = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, h = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, h = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < h + ln:
                break
            op = buf[pos] & 0x0F
            payload = bytes(buf[pos + h : pos + h + ln])
            pos += h + ln
            if op == 0x1:
                if self.live:
                    self.sink(self, payload, rx)
                elif payload.startswith(WELCOME):
                    self.live = True
                    self.welcome = payload
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif not payload.startswith((TICK, EVENT)) and not self.ready.done():
                    self.ready.set_exception(ConnectionError(payload[:200].decode()))
            elif op == 0x9:
                self.send(0xA, payload)
            elif op == 0x8:
                if not self.closed:
                    self.send(0x8, payload[:2])
                self.closed = True
                assert self.transport is not None
                self.transport.close()
        del buf[:pos]


class Worker:
    """The client process: its connections and what they received."""

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.sets: dict[str, list[Conn]] = {}
        # every tick received: (set, server_time_ms, running, receive ms)
        self.ticks: list[tuple[str, int, bool, float]] = []
        self.armed = False
        self.tag: str | None = None
        self.keep = False
        self.events: list[tuple[str, int, float]] = []  # (set, sequence_number, receive ms)
        self.expected = 0
        self.count = 0
        self.t_last = 0.0
        self.sample: str | None = None
        self.errors: list[str] = []

    # the hot path: one call per text frame, inside data_received
    def on_frame(self, conn: Conn, data: bytes, rx: float) -> None:
        if data.startswith(TICK):
            d = orjson.loads(data)
            running = d["running"]
            self.ticks.append((conn.set_name, d["server_time_ms"], running, rx))
            if not running and self.armed and conn.pause_rx is None:
                conn.pause_rx = rx
            return
        if not data.startswith(EVENT):
            return
        d = orjson.loads(data)
        et = d["event_type"]
        if et == self.tag:
            if self.keep:
                self.events.append((conn.set_name, d["sequence_number"], rx))
            if self.sample is None:
                self.sample = data.decode()
            self.count += 1
            if rx > self.t_last:
                self.t_last = rx
            if self.count == self.expected:
                reply({"op": "done", "tag": et, "t_last": self.t_last, "sample": self.sample})
        elif et == "SESSION_PAUSED" and self.armed and conn.pause_rx is None:
            conn.pause_rx = rx

    def alive(self, names: Iterable[str]) -> list[Conn]:
        return [c for n in names for c in self.sets.get(n, []) if c.alive]

    async def open_one(self, url: str, set_name: str, sem: asyncio.Semaphore) -> bool:
        async with sem:
            try:
                conn = await (self._open_raw if self.impl == "raw" else self._open_ws)(
                    url, set_name
                )
            except Exception as exc:
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                return False
        self.sets.setdefault(set_name, []).append(conn)
        return True

    async def _open_raw(self, url: str, set_name: str) -> Conn:
        u = urlsplit(url)
        host, port = u.hostname or "127.0.0.1", u.port or 80
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: RawClient(
                    f"{host}:{port}", u.path or "/", HELLO.encode(), self.on_frame, set_name
                ),
                host,
                port,
            ),
            120,
        )
        try:
            await asyncio.wait_for(asyncio.shield(proto.ready), 120)
        except BaseException:
            if proto.transport is not None:
                proto.transport.abort()
            raise
        return proto

    async def _open_ws(self, url: str, set_name: str) -> Conn:
        from websockets.asyncio.client import connect

        ws = await connect(
            url,
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=120,
            close_timeout=2,
            proxy=None,
            create_connection=TimedConnection,
        )
        assert isinstance(ws, TimedConnection)
        await ws.send(HELLO)
        while True:
            first = await asyncio.wait_for(ws.recv(decode=False), 120)
            if first.startswith(WELCOME):
                ws.welcome = first
                break
            if not first.startswith((TICK, EVENT)):
                raise RuntimeError(f"expected a welcome, got {first[:200]!r}")
        ws.set_name = set_name
        ws.sink = self.on_frame  # from here on frames bypass recv()
        return ws

    async def handle(self, cmd: dict[str, Any]) -> bool:
        op = cmd["op"]
        if op == "connect":
            # targets: [[set, url, n], ...], their connections interleaved so that
            # every server sees its share arrive at once
            t0 = time.monotonic()
            sem = asyncio.Semaphore(cmd.get("concurrency", 64))
            targets = cmd.get("targets") or [[cmd["set"], cmd["url"], cmd["n"]]]
            queue = [
                (s, u) for i in range(max(t[2] for t in targets)) for s, u, n in targets if i < n
            ]
            ok = await asyncio.gather(*(self.open_one(u, s, sem) for s, u in queue))
            reply(
                {
                    "op": "connected",
                    "n": sum(ok),
                    "failed": len(ok) - sum(ok),
                    "errors": self.errors[:3],
                    "seconds": time.monotonic() - t0,
                }
            )
        elif op == "close":
            gone = [c for n in cmd["sets"] for c in self.sets.pop(n, [])]
            for c in gone:
                c.drop()
            reply({"op": "closed", "n": len(gone)})
        elif op == "welcomes":  # the observation id each connection of a set was welcomed with
            ids = [orjson.loads(c.welcome)["you"]["observation_id"] for c in self.sets[cmd["set"]]]
            reply({"op": "welcomes", "ids": ids})
        elif op == "alive":
            reply({"op": "alive", "sets": {n: len(self.alive([n])) for n in self.sets}})
        elif op == "ticks":
            # windows: {set: [[from_ms, to_ms], ...]}; latency to the nearest whole interval
            tick_ms = cmd["tick_ms"]
            windows: dict[str, list[list[float]]] = cmd["windows"]
            lat: dict[str, list[float]] = {n: [] for n in windows}
            stamps: dict[str, set[int]] = {n: set() for n in windows}
            for name, st, running, rx in self.ticks:
                ws_ = windows.get(name)
                if not running or ws_ is None:
                    continue
                if any(a < st < b for a, b in ws_):
                    boundary = (st + tick_ms // 2) // tick_ms * tick_ms
                    lat[name].append(round(rx - boundary, 3))
                    stamps[name].add(st)
            self.ticks.clear()
            reply({"op": "ticks", "lat": lat, "stamps": {n: sorted(s) for n, s in stamps.items()}})
        elif op == "arm":
            for conns in self.sets.values():
                for c in conns:
                    c.pause_rx = None
            self.armed = True
            reply({"op": "armed"})
        elif op == "pause_report":
            names = cmd["sets"]
            deadline = time.monotonic() + cmd.get("timeout", 30)
            while time.monotonic() < deadline:
                if all(c.pause_rx is not None for c in self.alive(names)):
                    break
                await asyncio.sleep(0.01)
            t0 = cmd["t0"]
            out: dict[str, list[float]] = {}
            missing: dict[str, int] = {}
            for n in names:
                conns = self.alive([n])
                out[n] = [round(c.pause_rx - t0, 3) for c in conns if c.pause_rx is not None]
                missing[n] = len(conns) - len(out[n])
            self.armed = False
            reply({"op": "pause_report", "lat": out, "missing": missing})
        elif op == "tag":
            self.tag = cmd["tag"]
            self.keep = cmd.get("keep", False)
            self.events.clear()
            self.count = 0
            self.t_last = 0.0
            self.sample = None
            self.expected = len(self.alive(cmd["sets"])) * cmd.get("k", 1)
            reply({"op": "tagged", "expected": self.expected})
        elif op == "events":
            sends = {int(k): v for k, v in cmd["sends"].items()}
            evlat: dict[str, list[float]] = {n: [] for n in cmd["sets"]}
            for name, seq, rx in self.events:
                t = sends.get(seq)
                if t is not None and name in evlat:
                    evlat[name].append(round(rx - t, 3))
            expect = {n: len(self.alive([n])) * len(sends) for n in cmd["sets"]}
            self.events.clear()
            reply(
                {
                    "op": "events",
                    "lat": evlat,
                    "missing": {n: expect[n] - len(evlat[n]) for n in evlat},
                }
            )
        elif op == "exit":
            return False
        return True


async def client_main(impl: str) -> None:
    await client_role(Worker(impl).handle)
