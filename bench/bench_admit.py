"""Join storm: how long a crowd of observers takes to get in, beside a bare websockets server.

    .venv/bin/python bench/bench_admit.py [--quick] [--observers 2000] [--rounds 3]
    .venv/bin/python bench/bench_admit.py --nodes 2 [--observers 10000] [--rounds 3]

Processes (as in ``bench_fanout.py``, whose client and baseline roles this
reuses): the courtroom server as deployed (``python -m server.node.cli serve``, the
embedded SQLite default, or ``--database-url``), the baseline (a plain
``websockets.asyncio.server.serve`` that answers each ``hello`` with a
``welcome``), and one client process per round and system. A round connects
``--observers`` anonymous observers at once (50 handshakes in flight), each
sending ``hello`` and waiting for its ``welcome``; the figure is the time
until the last welcome. Each courtroom round uses a fresh session; rounds
alternate between the two servers. Beside it, the CPU seconds each server's
process used over its storm: the client process shares the machine's two
cores with the server, so the wall-clock ratio moves with how fast the
clients are, while the servers' CPU for the same 2,000 arrivals says what
each admission costs.

After the courtroom rounds it checks the record: every arrival of every round
is in the log (``OBSERVER_JOINED`` counts add up) and the chain verifies.

``--nodes 2`` is the same storm over two nodes of one courtroom (PostgreSQL and
Redis, 10,000 observers by default, half on each node, from ``--client-procs``
raw-client processes, beside two bare websockets servers): ``_admit_cluster.py``.

Ends with one JSON line per round pair, ``{"bench": "admit", ...}``. Not a
test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path

from _admit_cluster import cluster_main
from _common import (
    BENCH,
    Api,
    Baseline,
    ClientProc,
    Neighbours,
    Node,
    add_quiet_option,
    cpu_seconds,
    create_users,
    install_loop,
    machine,
    raise_nofile,
    server_env,
    stop_clients,
    wait_for_quiet,
)

HELLO = json.dumps({"type": "hello", "v": 1, "token": None, "as": "observer"})


async def admit(url: str, n: int, loop: str, server: int) -> tuple[float, float]:
    """Connect ``n`` observers from a fresh client process: seconds until all are
    welcome, and the CPU seconds the ``server`` process used meanwhile."""
    (client,) = [await ClientProc.spawn("bench_fanout.py", "--loop", loop)]
    try:
        t0, c0 = time.monotonic(), cpu_seconds(server)
        await client.send(op="connect", set="s", url=url, n=n, hello=HELLO, deflate=False)
        await client.wait("connected", timeout=900)
        return time.monotonic() - t0, cpu_seconds(server) - c0
    finally:
        await stop_clients([client])


async def main(args: argparse.Namespace) -> None:
    print(f"bench_admit: {machine()}, open files limit {raise_nofile()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-admit-"))
    extra = {"DATABASE_URL": args.database_url} if args.database_url else {}
    extra.update(kv.split("=", 1) for kv in args.node_env)
    env = server_env(tmp / "data", **extra)
    create_users(env, [("judge", "JUDGE")])
    wrapper: list[str] = []
    if args.profile_server:
        wrapper = [str(BENCH / "_uvicorn_profiled.py"), args.profile_server]
        wrapper += ["serve", "--host", "127.0.0.1"]
    node = Node("courtroom", env, tmp, wrapper)
    node.start()
    base = Baseline("bench_fanout.py")
    api: Api | None = None
    others = Neighbours()
    pairs: list[tuple[float, float]] = []
    cpus: list[tuple[float, float]] = []  # the two servers' CPU seconds a storm
    sessions: list[str] = []
    try:
        await node.wait_healthy()
        await base.connect()
        api = Api(node.base_url)
        await api.login("judge")
        for r in range(args.rounds):
            sid = str(
                (await api.call("POST", "/api/session/create", json={"title": "admit"}))["id"]
            )
            sessions.append(sid)
            if args.profile_server:
                node.signal(signal.SIGUSR1)
                await asyncio.sleep(0.2)
            court, court_cpu = await admit(node.ws_url(sid), args.observers, args.loop, node.pid)
            if args.profile_server:
                node.signal(signal.SIGUSR2)
            baseline, base_cpu = await admit(base.url, args.observers, args.loop, base.pid)
            pairs.append((court, baseline))
            cpus.append((court_cpu, base_cpu))
            print(
                f"  round {r + 1}: courtroom {court:.2f} s, baseline {baseline:.2f} s,"
                f" {court / baseline:.2f}x; server CPU {court_cpu:.2f} s against"
                f" {base_cpu:.2f} s, {court_cpu / base_cpu:.2f}x"
            )
        await asyncio.sleep(2)  # let the last departures reach the log
        for sid in sessions:
            logs = await api.call("GET", f"/api/session/{sid}/logs", params={"limit": 10_000})
            joined = sum(
                e["details"]["count"]
                for e in logs["entries"]
                if e["event_type"] == "OBSERVER_JOINED"
            )
            entries = sum(1 for e in logs["entries"] if e["event_type"] == "OBSERVER_JOINED")
            verify = await api.call("GET", f"/api/session/{sid}/verify")
            print(
                f"  session {sid[:8]}: {joined} arrivals logged in {entries} entries,"
                f" chain valid: {verify['valid']}"
            )
            if joined != args.observers or not verify["valid"]:
                print("WARNING: the record is incomplete or invalid")
    finally:
        if api is not None:
            await api.close()
        await base.stop()
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    court_s = statistics.median(c for c, _ in pairs)
    base_s = statistics.median(b for _, b in pairs)
    print(
        f"\n{args.observers} observers admitted: courtroom {court_s:.2f} s,"
        f" bare websockets {base_s:.2f} s (median of {len(pairs)}), {court_s / base_s:.2f}x"
    )
    cpu_c = statistics.median(c for c, _ in cpus)
    cpu_b = statistics.median(b for _, b in cpus)
    print(
        f"server CPU a storm: courtroom {cpu_c:.2f} s, bare websockets {cpu_b:.2f} s"
        f" (median), {cpu_c / cpu_b:.2f}x; {cpu_c / args.observers * 1e6:.0f} against"
        f" {cpu_b / args.observers * 1e6:.0f} µs an arrival"
    )
    print(f"whole run: {others.line()}")
    for (court, baseline), (court_cpu, base_cpu) in zip(pairs, cpus, strict=True):
        print(
            json.dumps(
                {
                    "bench": "admit",
                    "observers": args.observers,
                    "seconds": round(court, 3),
                    "baseline_seconds": round(baseline, 3),
                    "ratio": round(court / baseline, 3),
                    "cpu_seconds": round(court_cpu, 2),
                    "baseline_cpu_seconds": round(base_cpu, 2),
                }
            )
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 observers, 1 round")
    ap.add_argument("--observers", type=int, default=None, help="observers per round (2000)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per server (3)")
    ap.add_argument("--database-url", default=None, help="PostgreSQL instead of SQLite")
    ap.add_argument("--profile-server", metavar="OUT.prof", help="cProfile the courtroom rounds")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("--nodes", type=int, choices=(1, 2), default=1, help="courtroom nodes (1)")
    ap.add_argument("--client-procs", type=int, default=4, help="with --nodes 2 (4)")
    ap.add_argument(
        "--inflight",
        type=int,
        default=64,
        help="with --nodes 2: handshakes in flight per client process (64)",
    )
    ap.add_argument(
        "--node-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the courtroom node(s), e.g. COURTROOM_OBSERVER_WINDOW_MS=1000",
    )
    add_quiet_option(ap)
    args = ap.parse_args()
    two = args.nodes == 2
    args.observers = args.observers or (500 if args.quick else 10_000 if two else 2000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.profile_server:
        args.profile_server = str(Path(args.profile_server).resolve())
    install_loop(args.loop)
    wait_for_quiet(args.wait_quiet)
    asyncio.run(cluster_main(args) if two else main(args))
