"""Plumbing of the multi-process benchmarks: sockets, clocks, client processes, the baseline.

Client processes are driven by one JSON command a line on stdin and answer
with JSON lines on stdout (``client_role`` on their side, ``ClientProc`` on
the driver's). The baseline is a plain ``websockets`` server process
(``Baseline``) that a benchmark compares the courtroom server with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.asyncio.server import ServerConnection

from _paths import BENCH, PY, ROOT


def raise_nofile(want: int = 20_000) -> int:
    """Raise this process's open files limit towards ``want``; returns the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def now_ms() -> float:
    """The wall clock in ms (every process on this machine reads the same one)."""
    return time.time() * 1000.0


def profile_on_signals(path: str) -> None:
    """cProfile this process while switched on: SIGUSR1 starts collecting, SIGUSR2
    stops and writes everything collected so far to ``path`` (``python -m pstats``)."""
    import cProfile

    prof = cProfile.Profile()

    def on(_sig: int, _frame: Any) -> None:
        prof.enable()

    def off(_sig: int, _frame: Any) -> None:
        prof.disable()
        prof.dump_stats(path)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)


def reply(msg: dict[str, Any]) -> None:
    """A client process's answer to its driver (one line on stdout)."""
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def client_role(handle: Callable[[dict[str, Any]], Awaitable[bool]]) -> NoReturn:
    """A client process's main loop: each command read from stdin goes to ``handle``
    (which answers with ``reply``) until it returns False or stdin closes."""
    raise_nofile()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if not await handle(json.loads(line)):
            break
    sys.stdout.flush()
    os._exit(0)  # do not wait for thousands of closing handshakes


class ClientProc:
    """The driver's end of one client process (a script's ``--role clients``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.pump = asyncio.create_task(self._pump())

    @classmethod
    async def spawn(cls, script: str, *args: str) -> ClientProc:
        """Start ``bench/<script> --role clients <args>``."""
        proc = await asyncio.create_subprocess_exec(
            PY,
            str(BENCH / script),
            "--role",
            "clients",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=2**26,
        )
        return cls(proc)

    async def _pump(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.inbox.append(json.loads(line))
            self.arrived.set()

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def wait(self, op: str, timeout: float, tag: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.inbox:
                if m["op"] == op and (tag is None or m.get("tag") == tag):
                    self.inbox.remove(m)
                    return m
            if self.proc.returncode is not None or self.pump.done():
                raise RuntimeError(f"client process {self.proc.pid} exited")
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(op)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


async def stop_clients(procs: Sequence[ClientProc]) -> None:
    for c in procs:
        with contextlib.suppress(Exception):
            await c.send(op="exit")
    for c in procs:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.proc.wait(), 10)
        if c.proc.returncode is None:
            c.proc.kill()
            await c.proc.wait()


async def hold_observer(ws: ServerConnection, clients: set[ServerConnection]) -> None:
    """A baseline server's observer: read its hello, welcome it, keep it in ``clients``
    (what the server broadcasts to) until it closes."""
    await ws.recv()  # hello
    await ws.send('{"type":"welcome"}')
    clients.add(ws)
    try:
        await ws.wait_closed()
    finally:
        clients.discard(ws)


class Baseline:
    """A baseline server process (``bench/<script> --role baseline-server``), and the
    control connection (path ``/control``) that tells it what to broadcast."""

    def __init__(self, script: str, name: str = "baseline", args: Sequence[str] = ()) -> None:
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PY, str(BENCH / script), "--role", "baseline-server", "--port", str(self.port)]
            + list(args),
            cwd=ROOT,
        )
        self.control: ClientConnection | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        for _ in range(300):
            try:
                self.control = await connect(
                    f"ws://127.0.0.1:{self.port}/control",
                    compression=None,
                    max_size=None,
                    proxy=None,
                )
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up")

    async def cmd(self, msg: str) -> None:
        """Send one control message and wait for its ack."""
        assert self.control is not None
        await self.control.send(msg)
        await self.control.recv()

    async def stop(self) -> None:
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
