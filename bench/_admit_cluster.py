"""``bench_admit.py --nodes 2``: the join storm over two nodes of one courtroom.

The processes are ``bench_cluster.py``'s (``_cluster_phases.Bench``): a private
``redis-server``, a scratch PostgreSQL database, node A and node B (``server.node.cli
serve`` with the same ``DATABASE_URL``, ``REDIS_URL`` and secret, ``COURTROOM_NODE_ID``
node-a / node-b), two bare ``websockets`` servers (``bench_ticks.py --role
baseline-server``: each answers a ``hello`` with a ``welcome``) and
``--client-procs`` raw-client processes (``bench_ticks.py --role clients``).

A round: the judge creates a fresh session on node A; every client process opens
its share of ``--observers`` at once, half to each node, interleaved
(``--inflight`` handshakes in flight per process), each sending ``hello`` as an
anonymous observer; the figure is the time until the last ``welcome``. Then the
record: once the log is quiet, the ``OBSERVER_JOINED`` entries must list exactly
the observation ids the clients were welcomed with, and the chain must verify.
The observers are dropped, the departures logged, and the same clients arrive
the same way at the two baseline servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from _cluster_phases import Bench
from _common import Api, Neighbours, cpu_seconds, print_columns
from _tick_driver import settle


@dataclass
class Round:
    court: float
    logged_by: float  # seconds from the storm's start to its last OBSERVER_JOINED commit
    baseline: float
    logged: int
    entries: int
    valid: bool
    cpu: dict[str, float]  # cores used during the courtroom storm, per process
    work: tuple[float, float]  # CPU seconds of the servers and the clients, courtroom storm
    base_work: tuple[float, float]  # the same for the baseline's storm

    @property
    def ok(self) -> bool:
        return self.valid and self.logged == -1


def _postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process (the database the nodes share)."""
    total = 0.0
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                with open(f"/proc/{e.name}/comm") as f:
                    if f.read().strip() == "postgres":
                        total += cpu_seconds(int(e.name))
            except OSError:
                pass
    return total


def _work(used: dict[str, float]) -> tuple[float, float]:
    """(CPU seconds of the servers: nodes, Redis, PostgreSQL or the baselines; of the clients)."""
    clients = sum(v for n, v in used.items() if n.startswith("clients"))
    return sum(used.values()) - clients, clients


async def record_check(api: Api, sid: str, welcomed: list[str]) -> tuple[int, int, bool, float]:
    """(arrivals logged, OBSERVER_JOINED entries, chain valid, the last one's timestamp in
    epoch seconds); arrivals logged is -1 when the log's observation ids are exactly
    ``welcomed``."""
    await settle(api, sid)
    logged: list[str] = []
    entries, seq, last = 0, 1, 0.0
    while True:
        page = await api.call(
            "GET", f"/api/session/{sid}/logs", params={"from_sequence": seq, "limit": 10_000}
        )
        for e in page["entries"]:
            if e["event_type"] == "OBSERVER_JOINED":
                entries += 1
                logged += e["details"]["observation_ids"]
                last = datetime.fromisoformat(e["timestamp"]).timestamp()
        if not page["entries"] or page["entries"][-1]["sequence_number"] >= page["head_sequence"]:
            break
        seq = page["entries"][-1]["sequence_number"] + 1
    valid = bool((await api.call("GET", f"/api/session/{sid}/verify"))["valid"])
    exact = len(logged) == len(welcomed) and set(logged) == set(welcomed)
    return (-1 if exact else len(logged)), entries, valid, last


async def one_round(bench: Bench, args: argparse.Namespace, r: int) -> Round:
    assert bench.api is not None
    api = bench.api
    a, b = bench.nodes
    half = args.observers // 2
    counts = (half, args.observers - half)
    sid = str((await api.call("POST", "/api/session/create", json={"title": "admit"}))["id"])
    pids = bench.pids()
    if args.profile_server:
        for n in bench.nodes:
            n.signal(signal.SIGUSR1)
        await asyncio.sleep(0.2)
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    cpu0["postgres"] = _postgres_cpu()
    t0, wall0 = time.monotonic(), time.time()
    sets = [f"A{r}", f"B{r}"]
    ok, failed, court = await bench.pool.connect_all(
        [(sets[0], a.ws_url(sid), counts[0]), (sets[1], b.ws_url(sid), counts[1])],
        args.inflight,
    )
    wall = time.monotonic() - t0
    used = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
    used["postgres"] = _postgres_cpu() - cpu0["postgres"]
    cpu = {n: v / wall for n, v in used.items()}
    if args.profile_server:
        for n in bench.nodes:
            n.signal(signal.SIGUSR2)
    if failed:
        print(f"  round {r + 1}: {failed} of {args.observers} observers were not welcomed")
    welcomed = [i for s in sets for i in await bench.pool.welcomes(s)]
    logged, entries, valid, last = await record_check(api, sid, welcomed)
    await bench.pool.close(sets)
    await settle(api, sid)  # the departures are logged before the baseline's turn
    bases = [f"base-a{r}", f"base-b{r}"]
    bcpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    _, bfailed, baseline = await bench.pool.connect_all(
        [(bases[0], bench.bases[0].url, counts[0]), (bases[1], bench.bases[1].url, counts[1])],
        args.inflight,
    )
    bused = {n: cpu_seconds(p) - bcpu0[n] for n, p in pids.items()}
    await bench.pool.close(bases)
    if bfailed:
        print(f"  round {r + 1}: {bfailed} baseline clients were not welcomed")
    await asyncio.sleep(1)
    res = Round(
        court, last - wall0, baseline, logged, entries, valid, cpu, _work(used), _work(bused)
    )
    record = (
        f"all {len(welcomed):,} welcomed ids logged in {entries} entries,"
        f" the last {res.logged_by:.2f} s after the start"
        if logged == -1
        else f"RECORD MISMATCH: {logged:,} ids logged for {len(welcomed):,} welcomed"
    )
    print(
        f"  round {r + 1}: courtroom {court:.2f} s ({ok:,} welcomed), baseline {baseline:.2f} s,"
        f" {court / baseline:.2f}x; {record}; chain valid: {valid}"
    )
    print("    cores during the storm: " + ", ".join(f"{n} {v:.2f}" for n, v in cpu.items()))
    print(
        f"    CPU seconds, servers + clients: courtroom {res.work[0]:.1f} + {res.work[1]:.1f},"
        f" baseline {res.base_work[0]:.1f} + {res.base_work[1]:.1f}"
    )
    return res


async def cluster_main(args: argparse.Namespace) -> None:
    args.instrument = False
    args.no_gc_freeze = False
    bench = Bench(args)
    bench.node_env = dict(kv.split("=", 1) for kv in args.node_env)
    others = Neighbours()
    rounds: list[Round] = []
    try:
        await bench.launch()
        print(
            f"two nodes (PostgreSQL + Redis), {args.observers:,} observers per round, half on"
            f" each, {args.client_procs} client processes, {args.inflight} handshakes in"
            f" flight per process; load average {os.getloadavg()[0]:.2f}"
            + (f"; nodes with {' '.join(args.node_env)}" if args.node_env else "")
        )
        for r in range(args.rounds):
            rounds.append(await one_round(bench, args, r))
    finally:
        await bench.stop()
    total, top = others.busy()
    rows = [
        [
            str(i + 1),
            f"{x.court:.2f} s",
            f"{x.logged_by:.2f} s",
            f"{x.baseline:.2f} s",
            f"{x.court / x.baseline:.2f}x",
            f"{x.work[0]:.1f} + {x.work[1]:.1f}",
            f"{x.base_work[0]:.1f} + {x.base_work[1]:.1f}",
            str(x.entries),
            "yes" if x.ok else "NO",
        ]
        for i, x in enumerate(rounds)
    ]
    med_c = statistics.median(x.court for x in rounds)
    med_b = statistics.median(x.baseline for x in rounds)
    ratio = f"{med_c / med_b:.2f}x"
    rows.append(["median", f"{med_c:.2f} s", "", f"{med_b:.2f} s", ratio, "", "", "", ""])
    print_columns(
        f"{args.observers:,} observers over two nodes: seconds until every one is welcomed",
        [
            "round",
            "courtroom",
            "all logged",
            "2 bare websockets",
            "ratio",
            "CPU s (servers + clients)",
            "baseline CPU s",
            "OBSERVER_JOINED",
            "record ok",
        ],
        rows,
    )
    print(f"whole run: other processes used {total:.2f} cores ({top or 'none named'})")
    for x in rounds:
        line = {
            "bench": "admit",
            "nodes": 2,
            "observers": args.observers,
            "seconds": round(x.court, 3),
            "logged_seconds": round(x.logged_by, 3),
            "baseline_seconds": round(x.baseline, 3),
            "ratio": round(x.court / x.baseline, 3),
            "cpu_seconds": round(sum(x.work), 2),
            "baseline_cpu_seconds": round(sum(x.base_work), 2),
            "joined_entries": x.entries,
            "record_ok": x.ok,
        }
        print(json.dumps(line))
