"""Appends under sustained load on SQLite: does the rate hold, and does the WAL stay bounded?

    .venv/bin/python bench/bench_sustained.py [--seconds 20] [--window 4] [--rounds 2]
                                              [--sessions 64] [--quick]

bench_append.py's cases last a fraction of a second; this one keeps
``--sessions`` clients (one a session, each sending NOTE commands through
``Courtroom.execute`` and waiting for each reply) writing for ``--seconds``,
and prints, per ``--window`` seconds, the appends/s, the process CPU per
append and the size of the WAL file.

Two cases, alternated round by round on fresh databases:

* **restart**: the writer as it is; when a checkpoint leaves more than
  ``RESTART_FRAMES`` frames behind, the writer finishes it between two batches
  so that the WAL restarts (``store/_writer_sqlite.py``);
* **no restart** (the baseline: the writer before that): ``RESTART_FRAMES``
  set out of reach, so only the off-path checkpointer runs, and under load the
  WAL never restarts.

Ends with one JSON line per case (``{"bench": "sustained", ...}``): the median
window's rate, the first and last windows' rates, the largest WAL, and how
many checkpoints the writer finished. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import install_loop, machine

import store._writer_sqlite as writer_sqlite
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate
from timers import system_clock

JUDGE = Actor(user_id="1", account_role="JUDGE", name="Bench Judge")
CASES = {"restart": writer_sqlite.RESTART_FRAMES, "no restart": 1 << 62}


async def one(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run of ``case`` on a fresh database: its windows and what the writer did."""
    writer_sqlite.RESTART_FRAMES = CASES[case]
    with tempfile.TemporaryDirectory(prefix="bench-sustained-") as tmp:
        db = Path(tmp) / "bench.db"
        await migrate(f"sqlite+aiosqlite:///{db}")
        store = SessionStore(f"sqlite+aiosqlite:///{db}")
        court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
        created = await asyncio.gather(
            *(court.create_session(JUDGE, title="bench") for _ in range(args.sessions))
        )
        done, stop = 0, False

        async def client(sid: str) -> None:
            nonlocal done
            i = 0
            while not stop:
                await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
                i += 1
                done += 1

        tasks = [asyncio.create_task(client(c.entries[0].session_id)) for c in created]
        wal = Path(f"{db}-wal")
        windows: list[tuple[float, float, int]] = []  # appends/s, CPU µs per append, WAL bytes
        try:
            for _ in range(int(args.seconds / args.window)):
                n0, c0, t0 = done, time.process_time(), time.perf_counter()
                await asyncio.sleep(args.window)
                n = done - n0
                windows.append(
                    (
                        n / (time.perf_counter() - t0),
                        (time.process_time() - c0) / max(n, 1) * 1e6,
                        wal.stat().st_size if wal.exists() else 0,
                    )
                )
        finally:
            stop = True
            await asyncio.gather(*tasks)
            backend = store.writer._backend
            restarts = getattr(backend, "wal_restarts", 0)
            await store.close()
    return {"windows": windows, "restarts": restarts}


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    for r in range(args.rounds):
        for case in list(CASES) if r % 2 == 0 else list(reversed(CASES)):
            run = await one(case, args)
            runs[case].append(run)
            print(f"round {r + 1}, {case}:")
            for k, (rate, cpu, wal) in enumerate(run["windows"], 1):
                print(
                    f"  {k * args.window:5.0f} s  {rate:9,.0f}/s  {cpu:6.1f} µs CPU per append"
                    f"  WAL {wal / 1e6:8.1f} MB"
                )
            print(f"  checkpoints finished by the writer: {run['restarts']}")
    out = []
    for case, rs in runs.items():
        rates = [w[0] for run in rs for w in run["windows"]]
        out.append(
            {
                "bench": "sustained",
                "backend": "sqlite",
                "case": case,
                "sessions": args.sessions,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "per_s": round(statistics.median(rates)),
                "first_window_per_s": round(statistics.median(r["windows"][0][0] for r in rs)),
                "last_window_per_s": round(statistics.median(r["windows"][-1][0] for r in rs)),
                "wal_mb_max": round(max(w[2] for run in rs for w in run["windows"]) / 1e6, 1),
                "writer_checkpoints": sum(r["restarts"] for r in rs),
            }
        )
    for o in out:
        print(json.dumps(o))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="how long each run writes (20)")
    ap.add_argument("--window", type=float, default=4, help="seconds a reported window (4)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each case, alternated (2)")
    ap.add_argument("--sessions", type=int, default=64, help="clients, one a session (64)")
    ap.add_argument("--quick", action="store_true", help="one round of 6 s in 2-second windows")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.window, args.rounds = 6, 2, 1
    print(f"bench_sustained: {machine()}, loop {install_loop('uvloop')}")
    asyncio.run(main(args))
