"""Two nodes, one courtroom: cross-node vs same-node delivery latency, fan-out and ticks
for one session whose observers are split over two nodes (Redis pub/sub between them).

    .venv/bin/python bench/bench_cluster.py [--quick] [--observers 10000] [--small 50]
        [--events 40] [--burst 20] [--rounds 2] [--ticks 9] [--client-procs 4]
        [--instrument] [--no-gc-freeze]

About 4-5 minutes with the defaults, longer than the ~3 minutes the other
benchmarks aim at: the join storm of 10,000 observers alone takes 2-3 minutes
on 2 cores (every observer's hello is a presence row in PostgreSQL plus a
batched OBSERVER_JOINED entry delivered to everyone already there).
``--observers 6000`` runs in under 3 minutes; ``--quick`` (1,000) in ~30 s.

Processes (all on this machine):

* a private ``redis-server`` on a free port (no persistence), killed at the end;
* a scratch PostgreSQL database ``bench_cluster_<random>`` on 127.0.0.1:5432,
  dropped at the end;
* node A and node B: ``python -m server.node.cli serve`` with the same
  ``DATABASE_URL``, ``REDIS_URL`` and secret, ``COURTROOM_NODE_ID`` node-a /
  node-b, ``COURTROOM_TICK_MS=1000``, heap freezing on as built (server/common/heap.py);
* two baseline servers (``bench_ticks.py --role baseline-server``): plain
  ``websockets`` servers that ``broadcast()`` what their control connection
  sends them, or a tick at each whole second;
* ``--client-procs`` client processes (``bench_ticks.py --role clients``), each
  with an equal share of every set of observers: courtroom A, courtroom B,
  baseline A, baseline B (so at most ~5,000 sockets per process with the
  defaults);
* this driver. All commands go to node A over HTTP, as the judge.

Figures:

1. Cross-node latency: the judge POSTs ``/api/session/{id}/log`` to node A,
   one at a time, ``--events`` times, ``--gap`` apart; latency = the observer's
   receive time - the moment before the POST. Observers on node A get the entry
   from A's hub directly (same node); observers on node B only through Redis
   (cross node). Measured twice: with ``--small`` observers per node (the path
   alone) and with all observers connected (the path under fan-out load).
   Beside it: a bare redis-py PUBLISH -> subscriber round trip on the same Redis.
2. Fan-out: ``--burst`` events back to back (one POST outstanding) to node A;
   deliveries/s = observers * K / (last observer's K-th event - first POST).
   Baseline: the same frame (the courtroom's own event frame) sent to both
   baseline servers' control connections (one outstanding each), each
   broadcasting to its half.
3. Ticks: the student's turn runs for ``--ticks`` seconds; latency = receive
   time - the whole second the tick belongs to (as in ``bench_ticks.py``; ticks
   computed in the first 1.2 s after the turn starts or resumes are left out, as
   node B sends one when the entry reaches it, at no whole second);
   beside both baseline servers ticking the same frames at the same seconds
   (the two systems take turns, never together).

Diagnostics: ``--instrument`` (tick pushes and GC pauses per node and phase; the
nodes then run through ``bench_ticks.py --role server``, the same
``server.http.serve.run`` with monkeypatches). ``--no-gc-freeze`` starts both nodes
with ``COURTROOM_GC_FREEZE=0`` (no heap freezing).

Clocks: every process reads the wall clock (``time.time()``), one machine.
Not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _cluster_phases import Bench, Burst
from _cluster_report import cpu_line, report
from _common import (
    Neighbours,
    fmt,
    install_loop,
    machine,
    raise_nofile,
)
from _redis import redis_round_trip
from _tick_driver import (
    others_line,
)


async def run(args: argparse.Namespace) -> None:
    print(f"bench_cluster: {machine(when=False)}, open files limit {raise_nofile()}")
    bench = Bench(args)
    others = Neighbours()
    try:
        sess = await bench.start()
        sid = sess.id
        assert bench.redis is not None
        rtt = await redis_round_trip(bench.redis.url)
        print(
            f"redis-py PUBLISH -> subscriber round trip (idle): p50 {fmt(rtt.p50)} ms, "
            f"p99 {fmt(rtt.p99)} ms"
        )
        per_node = args.observers // 2
        small = min(args.small, per_node)
        print("courtroom: connecting observers to both nodes ...")
        await bench.connect(small, 0, sid)
        lat = [
            await bench.latency(sid, "light", small, args.events, args.gap),
        ]
        print(
            f"  latency, {small} per node: same {fmt(lat[0].same.p50)}/{fmt(lat[0].same.p99)} ms, "
            f"cross {fmt(lat[0].cross.p50)}/{fmt(lat[0].cross.p99)} ms (p50/p99)"
        )
        await bench.connect(per_node, small, sid)
        lat.append(
            await bench.latency(sid, "loaded", per_node, args.events_loaded, args.gap_loaded)
        )
        print(
            f"  latency, {per_node:,} per node: same {fmt(lat[1].same.p50)}/"
            f"{fmt(lat[1].same.p99)} ms, cross {fmt(lat[1].cross.p50)}/{fmt(lat[1].cross.p99)} ms"
        )
        bursts: list[Burst] = []

        async def fan_out(system: str, label: str) -> None:
            for i in range(args.rounds):
                b = await bench.burst(system, sid, args.burst)
                bursts.append(b)
                print(
                    f"  {label} round {i + 1}: {b.deliveries:,} deliveries in {b.seconds:.2f} s"
                    f" = {b.rate:,.0f}/s{'' if b.complete else ' INCOMPLETE'} ({cpu_line(b.cpu)})"
                )

        await fan_out("courtroom", "fan-out")
        print(f"baseline: connecting {per_node:,} clients to each of two websockets servers ...")
        t0 = time.monotonic()
        res = await asyncio.gather(
            bench.pool.connect("base-a", bench.bases[0].url, per_node),
            bench.pool.connect("base-b", bench.bases[1].url, per_node),
        )
        print(
            f"  connected {res[0][0] + res[1][0]:,} (failed {res[0][1] + res[1][1]}) in "
            f"{time.monotonic() - t0:.1f} s"
        )
        await fan_out("baseline", "baseline fan-out")
        print("ticks: courtroom and baseline phases ...")
        tick_d, tick_cpu = await bench.ticks(sess, args.ticks, args.tick_rounds)
        report(args, rtt, lat, bursts, tick_d, tick_cpu, per_node)
        bench.instrument_report()
        print(others_line(others))
    finally:
        await bench.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="1,000 observers, fewer events, 1 round, 4 ticks"
    )
    ap.add_argument("--observers", type=int, default=None, help="total, split evenly (10000)")
    ap.add_argument("--small", type=int, default=50, help="observers per node, light phase (50)")
    ap.add_argument("--events", type=int, default=None, help="latency events, light phase (40)")
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between them (0.1)")
    ap.add_argument(
        "--events-loaded", type=int, default=None, help="latency events, loaded phase (15)"
    )
    ap.add_argument(
        "--gap-loaded", type=float, default=0.6, help="seconds between them, loaded (0.6)"
    )
    ap.add_argument("--burst", type=int, default=None, help="events per fan-out round, K (20)")
    ap.add_argument("--rounds", type=int, default=None, help="fan-out rounds per system (2)")
    ap.add_argument("--ticks", type=int, default=None, help="ticks per phase (9; 8 counted)")
    ap.add_argument("--tick-rounds", type=int, default=None, help="tick phases per system (1)")
    ap.add_argument("--client-procs", type=int, default=4, help="client processes (4)")
    ap.add_argument(
        "--instrument",
        action="store_true",
        help="time Hub.tick_all and GC pauses in both nodes (monkeypatched; diagnostics)",
    )
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="start both nodes with COURTROOM_GC_FREEZE=0 (no heap freezing, server/common/heap.py)",
    )
    args = ap.parse_args()
    q = args.quick
    args.observers = args.observers or (1000 if q else 10_000)
    args.events = args.events or (20 if q else 40)
    args.events_loaded = args.events_loaded or (8 if q else 15)
    args.burst = args.burst or (10 if q else 20)
    args.rounds = args.rounds or (1 if q else 2)
    args.ticks = args.ticks or (5 if q else 9)
    args.tick_rounds = args.tick_rounds or 1
    if q and args.client_procs == 4:
        args.client_procs = 2
    install_loop("uvloop")
    asyncio.run(run(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
