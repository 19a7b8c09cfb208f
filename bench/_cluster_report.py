"""The cluster benchmark's tables, printed from what the phases measured."""

from __future__ import annotations

import argparse
import statistics

from _cluster_phases import Burst, Latency
from _common import (
    Dist,
    fmt,
    print_columns,
    ratio,
)


def cpu_line(cpu: dict[str, float]) -> str:
    return ", ".join(f"{n} {v:.0%}" for n, v in cpu.items() if v >= 0.02)


def report(
    args: argparse.Namespace,
    rtt: Dist,
    lat: list[Latency],
    bursts: list[Burst],
    ticks: dict[str, Dist],
    tick_cpu: dict[str, float],
    per_node: int,
) -> None:
    rows = []
    for x in lat:
        rows.append(
            [
                f"{x.label}: {x.per_node:,} per node",
                f"{x.same.n:,}",
                f"{fmt(x.same.p50)} / {fmt(x.same.p99)} / {fmt(x.same.max)}",
                f"{x.cross.n:,}",
                f"{fmt(x.cross.p50)} / {fmt(x.cross.p99)} / {fmt(x.cross.max)}",
                f"{x.cross.p50 - x.same.p50:+.1f} / {x.cross.p99 - x.same.p99:+.1f}",
                str(x.missing),
            ]
        )
    print_columns(
        f"command on node A (HTTP POST /log) -> observers; {args.events} / {args.events_loaded} "
        f"events; redis-py round trip alone: p50 {fmt(rtt.p50)}, p99 {fmt(rtt.p99)} ms",
        [
            "load",
            "same-node n",
            "same-node p50/p99/max ms",
            "cross-node n",
            "cross-node p50/p99/max ms",
            "Redis adds p50/p99 ms",
            "missing",
        ],
        rows,
    )

    def med(system: str) -> tuple[float, float, bool]:
        rs = [b.rate for b in bursts if b.system == system]
        ok = all(b.complete for b in bursts if b.system == system)
        return (statistics.median(rs) if rs else 0.0), max(rs, default=0.0), ok

    bm, bb, bok = med("baseline")
    cm, cb, cok = med("courtroom")
    print_columns(
        f"fan-out: one session, {2 * per_node:,} observers split over two nodes, "
        f"K={args.burst} events per round, {args.rounds} rounds, {args.client_procs} client processes",
        ["case", "median /s", "best /s", "vs baseline", "complete"],
        [
            ["baseline: 2 x websockets.broadcast()", f"{bm:,.0f}", f"{bb:,.0f}", "", str(bok)],
            [
                "courtroom: node A + Redis + node B",
                f"{cm:,.0f}",
                f"{cb:,.0f}",
                ratio(cm, bm),
                str(cok),
            ],
        ],
    )
    both = Dist.merge([ticks["A"].xs, ticks["B"].xs])
    base = Dist.merge([ticks["base-a"].xs, ticks["base-b"].xs])
    rows = [
        ["baseline: 2 x websockets.broadcast()", *base.cells(), ""],
        ["courtroom: both nodes", *both.vs(base)],
        ["  node A (the judge's node)", *ticks["A"].cells(), ""],
        ["  node B", *ticks["B"].cells(), ""],
    ]
    print_columns(
        f"ticks: {2 * per_node:,} observers over two nodes, {args.ticks} ticks x "
        f"{args.tick_rounds} phases; server CPU during ticking: {cpu_line(tick_cpu)}",
        ["case", "samples", "p50 ms", "p99 ms", "max ms", "vs baseline p50/p99"],
        rows,
    )
    worst = max(x.cross.p99 - x.same.p99 for x in lat)
    light = lat[0].cross.p99 - lat[0].same.p99
    print(
        f"\ngoal: Redis adds <= 5 ms at p99: {light:+.1f} ms with {lat[0].per_node} observers per "
        f"node, {worst:+.1f} ms at worst -> {'met' if light <= 5 else 'MISSED'} on the path alone"
    )
