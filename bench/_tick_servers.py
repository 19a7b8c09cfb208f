"""The servers bench_ticks and bench_cluster start besides the courtroom's own ``serve``.

``baseline_main`` is ``--role baseline-server``: plain ``websockets`` that
broadcasts a tick at each whole second. ``wrapped_server_main`` is ``--role
server``: ``server.http.serve.run`` with diagnostics monkeypatched in (cProfile on
signals, the time of each ``Hub.tick_all`` and of each garbage collection).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from _common import (
    BENCH,
    hold_observer,
    profile_on_signals,
    raise_nofile,
)


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


def server_wrapper(profile: str | None = None, instrument: str | None = None) -> list[str]:
    """The ``Node`` wrapper for a courtroom server with diagnostics: this script's
    ``--role server``; none (plain ``server.node.cli serve``) when no diagnostic is asked for."""
    if not (profile or instrument):
        return []
    cmd = [str(BENCH / "bench_ticks.py"), "--role", "server"]
    if profile:
        cmd += ["--profile-server", profile]
    if instrument:
        cmd += ["--instrument-file", instrument]
    return cmd


def wrapped_server_main(port: int, profile: str | None, instrument: str | None) -> None:
    """``server.http.serve.run`` as ``server.node.cli serve`` calls it, optionally with cProfile
    (SIGUSR1 on, SIGUSR2 off and dump) and/or timing: each ``Hub.tick_all`` (the
    synchronous push of one tick into every connection's outbound slot) and each
    garbage collection, one line each in ``instrument``."""
    import gc

    from server.common.config import Settings
    from server.http.serve import run
    from server.live.hub import Hub

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
        "server.node.main:app",
        host="127.0.0.1",
        port=port,
        ws_max_size=Settings.from_env().max_frame_bytes,
        log_level="warning",
    )
