"""One observer count of bench_ticks: alternate courtroom and baseline phases, then pauses.

``measure_size`` runs the phases and pause cycles the docstring of
``bench_ticks.py`` describes and returns the samples (``SizeResult``);
``report_instrument`` prints what ``--instrument`` recorded in them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    Api,
    Baseline,
    Dist,
    Node,
    cpu_seconds,
    cpu_times,
    now_ms,
    print_columns,
)
from _tick_driver import (
    INSTRUMENT_HEAD,
    INSTRUMENT_TITLE,
    ClientPool,
    ClockSession,
    instrument_row,
    run_clock,
    sleep_ticks,
)


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


def report_instrument(path: Path, results: Sequence[SizeResult]) -> None:
    """What the monkeypatched server recorded during the courtroom phases."""
    rows = [[f"{r.n:,}", *instrument_row(path, r.court_windows)] for r in results]
    print_columns(INSTRUMENT_TITLE + ", courtroom phases", ["size", *INSTRUMENT_HEAD], rows)
