"""A private ``redis-server`` for the cluster benchmark, and its bare PUBLISH round trip."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import (
    Dist,
    free_port,
)


class Redis:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def wait(self) -> None:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def redis_round_trip(url: str, n: int = 300, size: int = 420) -> Dist:
    """PUBLISH on one connection -> the message read from a subscribed one (redis-py)."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    ps: Any = r.pubsub(ignore_subscribe_messages=True)  # aclose() is untyped
    await ps.subscribe("bench:rtt")
    payload = b"x" * size
    out: list[float] = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await r.publish("bench:rtt", payload)
            while (await ps.get_message(timeout=1.0)) is None:
                pass
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        await ps.aclose()
        await r.aclose()
    return Dist(out)
