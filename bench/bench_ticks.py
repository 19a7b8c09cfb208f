"""Tick delivery latency to 1,000 and 5,000 observers of one session, beside ``websockets.broadcast()``.

    .venv/bin/python bench/bench_ticks.py [--quick] [--sizes 1000,5000] [--ticks 8] [--rounds 2]
        [--pauses 5] [--client-procs 2] [--client raw|websockets]
        [--instrument] [--profile-server OUT.prof] [--no-gc-freeze]

About 2.5-3 minutes with the defaults (the join storm of 5,000 observers is ~50 s
of it); ``--quick`` (200 and 1,000 observers) about 40 s.

Processes (all on this machine, all on uvloop):

* the courtroom server: ``python -m server.cli serve`` (uvicorn, the real app) on
  its embedded default (a SQLite file in a temp dir, the in-process broker),
  ``COURTROOM_TICK_MS=1000``, heap freezing on as built (server/heap.py); users
  made with ``server.cli create-user``;
* the baseline server (``--role baseline-server``): a plain
  ``websockets.asyncio.server.serve`` that, while ticking, sleeps to each whole
  second of the wall clock (the hub's ``_tick_loop`` arithmetic) and
  ``websockets.broadcast()``-s a tick frame built by ``protocol.tick_frame``
  (the courtroom's own encoder, same fields, same size);
* ``--client-procs`` client processes (``--role clients``), each holding an
  equal share of the observers of *both* servers, so both see the same client
  topology;
* this driver, which runs the session (judge and student over HTTP), switches
  the phases and does the arithmetic.

The session: the judge creates and starts it, a STUDENT joins as petitioner
speaker 1, the judge creates a round with one 3,600 s turn and starts it, the
student starts the turn: from then on the hub ticks every observer each
second. The two servers tick at the same instants, so they take turns: a
courtroom phase (session running, ``--ticks`` ticks), then the judge pauses the
session (measured), then a baseline phase of as many ticks, then the baseline's
pause broadcast (measured), and the judge resumes. ``--rounds`` such pairs per
size; more pause/resume cycles up to ``--pauses`` (each pause 1.5-2.5 s after
its resume, at a random phase of the second, so it does not queue behind the
resume's own fan-out).

Latency of a tick = the client's receive time - the tick's scheduled time. The
scheduled time is the whole second the tick belongs to: ``server_time_ms``
rounded to the nearest multiple of the tick interval (the hub stamps the time
it computed the tick, just after the boundary). Only ticks of steady phases
count: running ticks computed after the phase's resume returned and before its
pause was sent (the tick that a resume itself sends is not a scheduled one).
Pause latency = the client's receive time of the first of the SESSION_PAUSED
event and the ``running: false`` tick - the moment before the judge's HTTP
POST ``/pause`` (baseline: before the control message that makes it broadcast
a ``running: false`` tick).

Receive time: by default the clients are a minimal RFC 6455 client
(``RawClient``: the handshake by hand with no extension offered, i.e. no
compression, then a frame parser in ``data_received``) that stamps
``time.time()`` when a chunk arrives and handles its text frames right there:
no reader task woken per message (about 20-30 us of client CPU a frame, most of
it the kernel's receive path), so the client processes distort the figures as
little as Python allows on a shared 2-core machine. ``--client websockets`` uses the ``websockets`` asyncio client instead
(``compression=None``, a ``ClientConnection`` subclass stamping in
``data_received``), as a cross-check. All processes read the same wall clock
(CLOCK_REALTIME on one machine).

Diagnostics (they run the server through ``--role server``, which calls the
same ``server.serve.run`` as ``server.cli serve``, with monkeypatches):

* ``--instrument``: time each ``Hub.tick_all`` (the synchronous push of a tick
  into every connection's outbound slot) and every garbage collection;
* ``--profile-server OUT.prof``: cProfile of the courtroom phases of the largest
  size only (SIGUSR1/SIGUSR2); read with ``python -m pstats``.

``--no-gc-freeze`` starts the server with ``COURTROOM_GC_FREEZE=0``: no heap
freezing (server/heap.py), to see what it is worth.

The process plumbing (server, baseline and client processes, CPU from /proc,
percentiles, tables) is in ``_common.py``; ``bench_cluster.py`` reuses this
script's roles (``clients``, ``baseline-server``, ``server``) and its session helpers.

Not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from _common import (
    BENCH,
    Api,
    Baseline,
    ClientProc,
    Dist,
    Neighbours,
    Node,
    client_role,
    cpu_seconds,
    cpu_times,
    create_users,
    fmt,
    hold_observer,
    install_loop,
    machine,
    now_ms,
    print_columns,
    profile_on_signals,
    raise_nofile,
    reply,
    server_env,
    stop_clients,
)
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

TICK = b'{"type":"tick"'
EVENT = b'{"type":"event"'
WELCOME = b'{"type":"welcome"'
HELLO = json.dumps({"type": "hello", "v": 1, "as": "observer"})


def others_line(watch: Neighbours) -> str:
    """What other processes on the machine did while ``watch`` ran (a shared machine is noisy)."""
    total, top = watch.busy()
    return (
        f"other processes on the machine used {total:.2f} cores on average during the run"
        f" ({top or 'none named'})"
    )


# --------------------------------------------------------------------------
# role: client process (stdin: one JSON command a line; stdout: JSON replies)
# --------------------------------------------------------------------------

Sink = Callable[["Conn", bytes, float], None]


class TimedConnection(ClientConnection):
    """Stamps each chunk on arrival and hands text frames to ``sink`` right there."""

    sink: Sink | None = None
    set_name: str = ""
    pause_rx: float | None = None
    t_rx: float = 0.0

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


class Conn(Protocol):
    """What the worker needs of a connection, whichever client implementation."""

    set_name: str
    pause_rx: float | None

    @property
    def alive(self) -> bool: ...


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
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None  # uvloop's TCPTransport is not an asyncio.Transport
        self.closed = False

    @property
    def alive(self) -> bool:
        return not self.closed

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
                break
            if not first.startswith((TICK, EVENT)):
                raise RuntimeError(f"expected a welcome, got {first[:200]!r}")
        ws.set_name = set_name
        ws.sink = self.on_frame  # from here on frames bypass recv()
        return ws

    async def handle(self, cmd: dict[str, Any]) -> bool:
        op = cmd["op"]
        if op == "connect":
            t0 = time.monotonic()
            sem = asyncio.Semaphore(cmd.get("concurrency", 64))
            ok = await asyncio.gather(
                *(self.open_one(cmd["url"], cmd["set"], sem) for _ in range(cmd["n"]))
            )
            reply(
                {
                    "op": "connected",
                    "n": sum(ok),
                    "failed": len(ok) - sum(ok),
                    "errors": self.errors[:3],
                    "seconds": time.monotonic() - t0,
                }
            )
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


# --------------------------------------------------------------------------
# role: baseline server (plain websockets, broadcast() at each whole second)
# --------------------------------------------------------------------------


async def baseline_main(port: int, tick_ms: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    from protocol import tick_frame

    raise_nofile()
    clients: set[ServerConnection] = set()
    turn_id = str(uuid.uuid4())
    deadline = int(time.time() * 1000) + 3_600_000
    ticking = False

    def frame(now: int, running: bool) -> str:
        return tick_frame(
            turn_id=turn_id,
            remaining_ms=max(0, deadline - now),
            running=running,
            sequence_number=1234,
            server_time_ms=now,
        ).decode()

    async def ticker() -> None:
        while True:  # the hub's _tick_loop, line for line
            now = int(time.time() * 1000)
            await asyncio.sleep((tick_ms - now % tick_ms) / 1000)
            if ticking:
                broadcast(clients, frame(int(time.time() * 1000), True))

    async def handler(ws: ServerConnection) -> None:
        nonlocal ticking
        if ws.request is not None and ws.request.path == "/control":
            async for msg in ws:
                if msg == "start":
                    ticking = True
                elif msg == "stop":
                    ticking = False
                elif msg == "pause":
                    broadcast(clients, frame(int(time.time() * 1000), False))
                elif isinstance(msg, str) and msg.startswith("frame "):
                    broadcast(clients, msg[6:])
                await ws.send("ack")
            return
        await hold_observer(ws, clients)

    task = asyncio.create_task(ticker())
    async with serve(
        handler, "127.0.0.1", port, compression=None, max_size=2**20, backlog=4096
    ) as server:
        await server.serve_forever()
    task.cancel()


# --------------------------------------------------------------------------
# role: courtroom server with diagnostics (cProfile, tick and GC timings)
# --------------------------------------------------------------------------


def server_wrapper(profile: str | None = None, instrument: str | None = None) -> list[str]:
    """The ``Node`` wrapper for a courtroom server with diagnostics: this script's
    ``--role server``; none (plain ``server.cli serve``) when no diagnostic is asked for."""
    if not (profile or instrument):
        return []
    cmd = [str(BENCH / "bench_ticks.py"), "--role", "server"]
    if profile:
        cmd += ["--profile-server", profile]
    if instrument:
        cmd += ["--instrument-file", instrument]
    return cmd


def wrapped_server_main(port: int, profile: str | None, instrument: str | None) -> None:
    """``server.serve.run`` as ``server.cli serve`` calls it, optionally with cProfile
    (SIGUSR1 on, SIGUSR2 off and dump) and/or timing: each ``Hub.tick_all`` (the
    synchronous push of one tick into every connection's outbound slot) and each
    garbage collection, one line each in ``instrument``."""
    import gc

    from server.config import Settings
    from server.hub import Hub
    from server.serve import run

    if profile:
        profile_on_signals(profile)
    if instrument:
        sink = open(instrument, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        orig = Hub.tick_all

        def tick_all(self: Hub, now: int) -> int:
            t0 = time.perf_counter()
            n = orig(self, now)
            sink.write(f"tick {time.time() * 1000:.1f} {(time.perf_counter() - t0) * 1000:.3f}\n")
            return n

        Hub.tick_all = tick_all  # type: ignore[method-assign]
        started: list[float] = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                ms = (time.perf_counter() - started[0]) * 1000
                sink.write(f"gc {time.time() * 1000:.1f} {ms:.3f} {info['generation']}\n")

        gc.callbacks.append(on_gc)
    run(
        "server.main:app",
        host="127.0.0.1",
        port=port,
        ws_max_size=Settings.from_env().max_frame_bytes,
        log_level="warning",
    )


# --------------------------------------------------------------------------
# driver side: processes
# --------------------------------------------------------------------------


class ClientPool:
    """``n`` client processes; a set of connections is spread evenly over them."""

    def __init__(self, n: int, impl: str = "raw") -> None:
        self.n = n
        self.impl = impl
        self.procs: list[ClientProc] = []
        self.expected: list[int] = []  # events of the current tag each process waits for

    async def start(self) -> None:
        for _ in range(self.n):
            self.procs.append(await ClientProc.spawn("bench_ticks.py", "--client", self.impl))
        self.expected = [0] * self.n

    @property
    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.procs]

    async def ask(
        self, op: str, reply: str, timeout: float = 120, **kw: Any
    ) -> list[dict[str, Any]]:
        for c in self.procs:
            await c.send(op=op, **kw)
        return [await c.wait(reply, timeout) for c in self.procs]

    async def connect(
        self, set_name: str, url: str, n: int, concurrency: int = 64
    ) -> tuple[int, int, float]:
        """Open ``n`` more observers; returns (connected, failed, seconds)."""
        if n <= 0:
            return 0, 0, 0.0
        t0 = time.monotonic()
        shares = [n // self.n + (1 if i < n % self.n else 0) for i in range(self.n)]
        for c, k in zip(self.procs, shares, strict=True):
            await c.send(op="connect", set=set_name, url=url, n=k, concurrency=concurrency)
        got = [await c.wait("connected", 1800) for c in self.procs]
        for g in got:
            if g["errors"]:
                print(f"  connect errors ({set_name}): {g['errors']}")
        return (
            sum(g["n"] for g in got),
            sum(g["failed"] for g in got),
            time.monotonic() - t0,
        )

    async def alive(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in await self.ask("alive", "alive"):
            for k, v in r["sets"].items():
                out[k] = out.get(k, 0) + v
        return out

    async def ticks(
        self, windows: dict[str, list[tuple[float, float]]], tick_ms: int
    ) -> tuple[dict[str, Dist], dict[str, list[int]]]:
        replies = await self.ask(
            "ticks",
            "ticks",
            windows={k: [list(w) for w in v] for k, v in windows.items()},
            tick_ms=tick_ms,
        )
        dists = {k: Dist.merge(r["lat"][k] for r in replies) for k in windows}
        stamps = {k: sorted({s for r in replies for s in r["stamps"][k]}) for k in windows}
        return dists, stamps

    async def arm(self) -> None:
        await self.ask("arm", "armed")

    async def pause_report(
        self, sets: list[str], t0: float, timeout: float = 30
    ) -> tuple[dict[str, list[float]], int]:
        replies = await self.ask(
            "pause_report", "pause_report", timeout=timeout + 30, sets=sets, t0=t0
        )
        lat = {n: [x for r in replies for x in r["lat"][n]] for n in sets}
        return lat, sum(v for r in replies for v in r["missing"].values())

    async def tag(self, tag: str, sets: list[str], k: int = 1, keep: bool = False) -> int:
        """Count (and with ``keep`` record) the events of type ``tag`` on ``sets``."""
        replies = await self.ask("tag", "tagged", tag=tag, sets=sets, k=k, keep=keep)
        self.expected = [int(r["expected"]) for r in replies]
        return sum(self.expected)

    async def wait_done(self, tag: str, timeout: float) -> tuple[float, str | None, bool]:
        """(the last receive time over all processes, a sample frame, complete?)"""
        t_last, sample, complete = 0.0, None, True
        deadline = time.monotonic() + timeout
        for c, expected in zip(self.procs, self.expected, strict=True):
            if expected == 0:
                continue
            try:
                d = await c.wait("done", max(0.1, deadline - time.monotonic()), tag)
            except TimeoutError:
                complete = False
                continue
            t_last = max(t_last, float(d["t_last"]))
            sample = sample or d["sample"]
        return t_last, sample, complete

    async def events(self, sets: list[str], sends: dict[int, float]) -> tuple[dict[str, Dist], int]:
        replies = await self.ask(
            "events", "events", sets=sets, sends={str(k): v for k, v in sends.items()}
        )
        dists = {n: Dist.merge(r["lat"][n] for r in replies) for n in sets}
        return dists, sum(v for r in replies for v in r["missing"].values())

    async def stop(self) -> None:
        await stop_clients(self.procs)


# --------------------------------------------------------------------------
# driver side: the session, over HTTP
# --------------------------------------------------------------------------


@dataclass
class ClockSession:
    """A started session with a round whose one long turn is ready to start."""

    id: str
    turn_id: str
    running: bool = False


async def clock_session(api: Api, title: str, seconds: int = 3600) -> ClockSession:
    """Judge creates and starts a session; ``pet1`` joins as petitioner #1; a round
    with one turn of ``seconds`` is created and started (the turn itself is not)."""
    sid = str((await api.call("POST", "/api/session/create", json={"title": title}))["id"])
    await api.call("POST", f"/api/session/{sid}/start")
    await api.call(
        "POST", f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1}
    )
    me = await api.call("GET", "/api/auth/me", "pet1")
    body = {
        "session_id": sid,
        "turns": [{"participant_id": str(me["user_id"]), "allowed_seconds": seconds}],
    }
    rnd = await api.call("POST", "/api/classroom/rounds", json=body)
    await api.call("POST", f"/api/classroom/rounds/{rnd['id']}/start")
    return ClockSession(sid, str(rnd["turns"][0]["id"]))


async def run_clock(api: Api, s: ClockSession) -> float:
    """Start the turn (first time) or resume the session; returns when it answered (ms)."""
    if not s.running:
        await api.call("POST", f"/api/classroom/turns/{s.turn_id}/start", "pet1")
        s.running = True
    else:
        await api.call("POST", f"/api/session/{s.id}/resume")
    return now_ms()


async def settle(api: Api, sid: str, quiet_s: float = 1.5, timeout: float = 300) -> int:
    """Wait until the session's head stops moving (the join storm is logged); returns it."""
    deadline = time.monotonic() + timeout
    head, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        h = int((await api.call("GET", f"/api/session/{sid}"))["head"]["sequence_number"])
        if h != head:
            head, since = h, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        await asyncio.sleep(0.25)
    return head


async def sleep_ticks(n: int, tick_ms: int) -> None:
    """Sleep through ``n`` whole tick boundaries, ending mid-interval (0.4 of a tick after)."""
    t = now_ms()
    nxt = (t // tick_ms + 1) * tick_ms
    await asyncio.sleep((nxt + (n - 1) * tick_ms + 0.4 * tick_ms - t) / 1000)


# --------------------------------------------------------------------------
# the tick benchmark
# --------------------------------------------------------------------------


@dataclass
class SizeResult:
    n: int
    court: Dist
    base: Dist
    court_pause: Dist
    base_pause: Dist
    court_lag: Dist  # server_time_ms - boundary, one per tick: the timer's lateness
    base_lag: Dist
    court_cpu_ms: float  # server CPU per tick (ms), user + system
    court_sys_ms: float  # of which system
    base_cpu_ms: float
    base_sys_ms: float
    client_cpu: float  # client processes' CPU share during the courtroom phases (cores)
    missing: int = 0
    court_windows: list[tuple[float, float]] = field(default_factory=list)


async def measure_size(
    args: argparse.Namespace,
    n: int,
    api: Api,
    sess: ClockSession,
    node: Node,
    base: Baseline,
    pool: ClientPool,
    profile: bool,
) -> SizeResult:
    tick_ms = 1000
    windows: dict[str, list[tuple[float, float]]] = {"court": [], "base": []}
    court_pause: list[float] = []
    base_pause: list[float] = []
    missing = 0
    cpu = {"court": 0.0, "court_sys": 0.0, "base": 0.0, "base_sys": 0.0}
    cpu.update(clients=0.0, court_s=0.0)

    async def court_pause_once() -> None:
        nonlocal missing
        await pool.arm()
        t0 = now_ms()
        await api.call("POST", f"/api/session/{sess.id}/pause")
        lat, miss = await pool.pause_report(["court"], t0)
        court_pause.extend(lat["court"])
        missing += miss

    async def base_pause_once() -> None:
        nonlocal missing
        await pool.arm()
        t0 = now_ms()
        await base.cmd("pause")
        lat, miss = await pool.pause_report(["base"], t0)
        base_pause.extend(lat["base"])
        missing += miss

    for _ in range(args.rounds):
        c0, k0 = cpu_times(node.pid), sum(cpu_seconds(p) for p in pool.pids)
        if profile:
            node.signal(signal.SIGUSR1)
        r = await run_clock(api, sess)
        t0 = time.monotonic()
        await sleep_ticks(args.ticks, tick_ms)
        p = now_ms()
        elapsed = time.monotonic() - t0
        if profile:
            node.signal(signal.SIGUSR2)
        c1 = cpu_times(node.pid)
        cpu["court"] += sum(c1) - sum(c0)
        cpu["court_sys"] += c1[1] - c0[1]
        cpu["clients"] += sum(cpu_seconds(pid) for pid in pool.pids) - k0
        cpu["court_s"] += elapsed
        windows["court"].append((r, p))
        await court_pause_once()

        b0 = cpu_times(base.pid)
        await base.cmd("start")
        s = now_ms()
        await sleep_ticks(args.ticks, tick_ms)
        e = now_ms()
        await base.cmd("stop")
        b1 = cpu_times(base.pid)
        cpu["base"] += sum(b1) - sum(b0)
        cpu["base_sys"] += b1[1] - b0[1]
        windows["base"].append((s, e))
        await base_pause_once()

    for _ in range(max(0, args.pauses - args.rounds)):
        await run_clock(api, sess)
        await asyncio.sleep(1.5 + random.uniform(0, 1))  # past the resume fan-out
        await court_pause_once()
        await base_pause_once()

    dists, stamps = await pool.ticks(windows, tick_ms)

    def lag(st: list[int]) -> Dist:
        return Dist([float(x - (x + tick_ms // 2) // tick_ms * tick_ms) for x in st])

    nticks_c = max(1, len(stamps["court"]))
    nticks_b = max(1, len(stamps["base"]))
    return SizeResult(
        n=n,
        court=dists["court"],
        base=dists["base"],
        court_pause=Dist(court_pause),
        base_pause=Dist(base_pause),
        court_lag=lag(stamps["court"]),
        base_lag=lag(stamps["base"]),
        court_cpu_ms=cpu["court"] * 1000 / nticks_c,
        base_cpu_ms=cpu["base"] * 1000 / nticks_b,
        court_sys_ms=cpu["court_sys"] * 1000 / nticks_c,
        base_sys_ms=cpu["base_sys"] * 1000 / nticks_b,
        client_cpu=cpu["clients"] / max(cpu["court_s"], 1e-9),
        missing=missing,
        court_windows=windows["court"],
    )


def report_ticks(args: argparse.Namespace, results: list[SizeResult]) -> None:
    head = ["case", "observers", "samples", "p50 ms", "p99 ms", "max ms", "vs baseline p50/p99"]

    tables = [
        (
            f"tick delivery latency (receive - scheduled whole second), one session, "
            f"{args.ticks} ticks x {args.rounds} phases per system, "
            f"{args.client_procs} client processes",
            "baseline: websockets.broadcast()",
            "courtroom: hub ticks (uvicorn)",
            [(r.n, r.base, r.court) for r in results],
        ),
        (
            f"pause -> observers see it (first of SESSION_PAUSED / running:false tick), "
            f"{args.pauses} cycles",
            "baseline: control msg -> broadcast",
            "courtroom: HTTP POST /pause",
            [(r.n, r.base_pause, r.court_pause) for r in results],
        ),
    ]
    for title, base_case, court_case, sizes in tables:
        rows: list[list[str]] = []
        for n, base, court in sizes:
            rows.append([base_case, f"{n:,}", *base.cells(), ""])
            rows.append([court_case, f"{n:,}", *court.vs(base)])
        print_columns(title, head, rows)
    rows = []
    for r in results:
        rows.append(
            [
                f"{r.n:,} observers",
                fmt(r.court_lag.p50),
                fmt(r.court_lag.max),
                fmt(r.base_lag.p50),
                fmt(r.base_lag.max),
                f"{r.court_cpu_ms:,.0f} ({r.court_sys_ms:,.0f} sys)",
                f"{r.base_cpu_ms:,.0f} ({r.base_sys_ms:,.0f} sys)",
                f"{r.client_cpu:.2f}",
                str(r.missing),
            ]
        )
    print_columns(
        "diagnostics: timer lateness (tick computed - boundary, ms), server CPU per tick (ms), "
        "client CPU (cores) during courtroom phases, observers missing a pause",
        [
            "size",
            "court lag p50",
            "court lag max",
            "base lag p50",
            "base lag max",
            "court cpu/tick",
            "base cpu/tick",
            "clients cores",
            "missing",
        ],
        rows,
    )
    last = results[-1]
    goal = "met" if last.court.p99 <= 75 else "MISSED"
    print(
        f"\ngoal: tick p99 at {last.n:,} observers <= 75 ms on one process: "
        f"{fmt(last.court.p99)} ms -> {goal}"
        f" (baseline websockets.broadcast(): {fmt(last.base.p99)} ms)"
    )


def instrument_row(path: Path, windows: Sequence[tuple[float, float]]) -> list[str]:
    """Cells for one server's instrument file within ``windows`` (wall ms): ticks pushed,
    push p50 and max (ms), then per GC generation its rate and cost, and its longest pause."""
    ticks: list[tuple[float, float]] = []
    gcs: list[tuple[float, float, int]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            f = line.split()
            if f[0] == "tick":
                ticks.append((float(f[1]), float(f[2])))
            elif f[0] == "gc":
                gcs.append((float(f[1]), float(f[2]), int(f[3])))

    def inside(t: float) -> bool:
        return any(a < t < b for a, b in windows)

    push = Dist([ms for t, ms in ticks if inside(t)])
    secs = max(sum(b - a for a, b in windows) / 1000, 1e-9)
    row = [f"{push.n}", fmt(push.p50), fmt(push.max)]
    for gen in (0, 1, 2):
        g = [ms for t, ms, gn in gcs if gn == gen and inside(t)]
        row.append(f"{len(g) / secs:.1f}/s, {sum(g) / secs:.1f} ms/s")
        row.append(fmt(max(g)) if g else "-")
    return row


INSTRUMENT_HEAD = ["ticks", "push p50", "push max"] + [
    x for g in (0, 1, 2) for x in (f"gen{g} rate, cost", f"gen{g} max")
]
INSTRUMENT_TITLE = (
    "server instrumentation: Hub.tick_all = the synchronous push of one tick into every "
    "outbound slot (ms); GC collections per generation (rate, time per second, longest ms)"
)


def report_instrument(path: Path, results: Sequence[SizeResult]) -> None:
    """What the monkeypatched server recorded during the courtroom phases."""
    rows = [[f"{r.n:,}", *instrument_row(path, r.court_windows)] for r in results]
    print_columns(INSTRUMENT_TITLE + ", courtroom phases", ["size", *INSTRUMENT_HEAD], rows)


def gc_freeze_env(args: argparse.Namespace) -> dict[str, str]:
    """The server's environment for ``--no-gc-freeze`` (and says so), else nothing."""
    if not args.no_gc_freeze:
        return {}
    print("COURTROOM_GC_FREEZE=0: no heap freezing in the courtroom server(s)")
    return {"COURTROOM_GC_FREEZE": "0"}


async def ticks_driver(args: argparse.Namespace) -> None:
    print(f"bench_ticks: {machine(when=False)}, open files limit {raise_nofile()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ticks-"))
    env = server_env(tmp / "data", **gc_freeze_env(args))
    create_users(env, [("judge", "JUDGE"), ("pet1", "STUDENT")])
    others = Neighbours()
    instrument = str(tmp / "instrument.txt") if args.instrument else None
    node = Node("courtroom", env, tmp, server_wrapper(args.profile_server, instrument))
    base: Baseline | None = None
    pool = ClientPool(args.client_procs, args.client)
    api: Api | None = None
    try:
        node.start()
        base = Baseline("bench_ticks.py")
        await pool.start()
        await node.wait_healthy()
        await base.connect()
        api = Api(node.base_url)
        await api.login("judge")
        await api.login("pet1")
        sess = await clock_session(api, "tick bench")
        results: list[SizeResult] = []
        have = 0
        for n in args.sizes:
            print(f"connecting observers: {have:,} -> {n:,} on each server ...")
            ok_c, fail_c, sec_c = await pool.connect("court", node.ws_url(sess.id), n - have)
            head = await settle(api, sess.id)
            print(
                f"  courtroom: +{ok_c:,} in {sec_c:.1f} s (failed {fail_c}); "
                f"log head {head} once settled"
            )
            ok_b, fail_b, sec_b = await pool.connect("base", base.url, n - have)
            print(f"  baseline:  +{ok_b:,} in {sec_b:.1f} s (failed {fail_b})")
            have = n
            alive = await pool.alive()
            print(f"  alive: {alive}")
            res = await measure_size(
                args,
                n,
                api,
                sess,
                node,
                base,
                pool,
                bool(args.profile_server) and n == max(args.sizes),
            )
            results.append(res)
            print(
                f"  {n:,}: courtroom tick p50/p99/max {fmt(res.court.p50)}/{fmt(res.court.p99)}/"
                f"{fmt(res.court.max)} ms; baseline {fmt(res.base.p50)}/{fmt(res.base.p99)}/"
                f"{fmt(res.base.max)} ms; pause p50/p99 {fmt(res.court_pause.p50)}/"
                f"{fmt(res.court_pause.p99)} ms"
            )
        report_ticks(args, results)
        print(others_line(others))
        if instrument:
            report_instrument(Path(instrument), results)
        if args.profile_server:
            print(
                f"\nserver profile (courtroom tick phases of the largest size): {args.profile_server}"
            )
    finally:
        if api is not None:
            await api.close()
        await pool.stop()
        if base is not None:
            await base.stop()
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="200 and 1,000 observers, 5 ticks, 1 round"
    )
    ap.add_argument("--sizes", default=None, help="observer counts, comma separated (1000,5000)")
    ap.add_argument("--ticks", type=int, default=None, help="ticks per phase (8)")
    ap.add_argument("--rounds", type=int, default=None, help="phases per system and size (2)")
    ap.add_argument("--pauses", type=int, default=None, help="pause cycles per size (5)")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes (2)")
    ap.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="client implementation: raw (RFC 6455 by hand, cheapest) or websockets",
    )
    ap.add_argument("--profile-server", metavar="OUT.prof", help="cProfile the courtroom phases")
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="start the server with COURTROOM_GC_FREEZE=0 (no heap freezing, server/heap.py)",
    )
    ap.add_argument(
        "--instrument",
        action="store_true",
        help="time each Hub.tick_all push and each GC pause in the server (monkeypatched)",
    )
    ap.add_argument(
        "--role",
        choices=("driver", "clients", "baseline-server", "server"),
        default="driver",
    )
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--instrument-file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tick-ms", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "server":
        wrapped_server_main(args.port, args.profile_server, args.instrument_file)
        return
    install_loop("uvloop")
    if args.role == "clients":
        asyncio.run(client_main(args.client))
    elif args.role == "baseline-server":
        asyncio.run(baseline_main(args.port, args.tick_ms))
    else:
        q = args.quick
        args.sizes = [int(x) for x in (args.sizes or ("200,1000" if q else "1000,5000")).split(",")]
        args.ticks = args.ticks or (5 if q else 8)
        args.rounds = args.rounds or (1 if q else 2)
        args.pauses = args.pauses or (2 if q else 5)
        if args.profile_server:
            args.profile_server = str(Path(args.profile_server).resolve())
        asyncio.run(ticks_driver(args))


if __name__ == "__main__":
    main()
