"""Helpers for multi-node tests: a private Redis, a scratch PostgreSQL database, WS clients.

Fault tests stop and start *their own* ``redis-server`` on a free port; they
never touch the machine's shared services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import unavailable
from tests.integration.procs import free_port


class RedisProcess:
    """A private ``redis-server`` (no persistence) that a test may kill and restart."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class Watcher:
    """A raw protocol client that records every event it receives, across reconnects."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []
        # Checkpoint frames, each with the last sequence number received before it.
        self.checkpoints: list[tuple[int, dict[str, Any]]] = []
        self.closes: list[int | None] = []
        self.ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def last(self) -> int:
        return self.events[-1]["sequence_number"] if self.events else 0

    @property
    def seqs(self) -> list[int]:
        return [e["sequence_number"] for e in self.events]

    async def attach(self, ws_base: str, session_id: str) -> None:
        """Connect (again) to a node and resume after the last entry held."""
        self.ws = await connect(f"{ws_base}/ws/sessions/{session_id}", compression=None)
        await self.ws.send(
            json.dumps({"type": "hello", "v": 1, "as": "observer", "resume_from": self.last})
        )
        welcome = json.loads(await self.ws.recv())
        assert welcome["type"] == "welcome" and welcome["recovered"] is True, welcome
        self._task = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "event":
                    if self.events and msg["sequence_number"] <= self.last:
                        raise AssertionError(f"{self.name}: duplicate {msg['sequence_number']}")
                    if msg["sequence_number"] != self.last + 1:
                        raise AssertionError(f"{self.name}: gap before {msg['sequence_number']}")
                    self.events.append(msg)
                elif msg["type"] == "tick":
                    self.ticks.append(msg)
                elif msg["type"] == "checkpoint":
                    self.checkpoints.append((self.last, msg))
            self.closes.append(ws.close_code)  # a clean close ends the iteration
        except ConnectionClosed as exc:
            self.closes.append(exc.rcvd.code if exc.rcvd else None)

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while not predicate(self):
            if self._task is not None and self._task.done() and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
            if time.monotonic() > end:
                raise AssertionError(f"{self.name}: timed out with seqs up to {self.last}")
            await asyncio.sleep(0.02)

    async def wait_closed(self, timeout: float = 20.0) -> None:
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
