"""Log appends per second through the real command path (the batch writer), with baselines.

    .venv/bin/python bench/bench_append.py [--quick] [--sessions 64] [--backend sqlite|postgres|both]

What runs, for SQLite (a file in a temp dir) and PostgreSQL (a scratch
``bench_<random>`` database, migrated, dropped at the end):

* ``Courtroom.execute(LogCustom("NOTE", {"i": n}))`` by a judge, the whole
  path (rules, chain hash, batch writer transaction, commit, publish to the
  in-memory broker):
  - on ``--sessions`` sessions at once, one client per session sending its
    commands one after another (each waits for its reply): appends/s; on
    PostgreSQL also with the writer held to one batch at a time (it writes
    two at once), the writer as it was;
  - on one session from one client (latency bound): appends/s;
  - one command at a time on an idle server with a pause between commands:
    the latency of a lone command, p50/p99;
* baselines, the same rows written with the bare driver (stdlib ``sqlite3``
  on a thread; asyncpg): INSERT batches of ``--sessions`` rows per
  transaction (what the writer's transactions hold when every session has one
  command waiting), and one row per transaction sequentially;
* the chain hash alone: ``entry_hash_canonical`` entries/s (and with
  ``canonical_details``, as the append path calls it).

The heap is frozen once the store is warm, as the server does after startup
(``COURTROOM_GC_FREEZE``, on by default: ``server/common/heap.py``), so a full
collection walks only what the cases themselves made; ``--no-gc-freeze``
runs with Python's default collector, as a server with it turned off. On
2026-12-07, in three alternated pairs of whole runs, the 64-session case gave
20,106, 18,644 and 16,955/s frozen against 11,415, 17,348 and 16,970/s: a full
collection over the warm process (~35 ms) falls into some cases, not all.

Ends with one JSON line per case (``{"bench": "append", ...}``). Not a test:
it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    Neighbours,
    Row,
    add_quiet_option,
    clean_case,
    install_loop,
    machine,
    print_table,
    scratch_pg,
    wait_for_quiet,
)

from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical, format_timestamp
from server.common.heap import HeapKeeper
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate
from store._plan import ENTRY_COLUMNS
from timers import system_clock

JUDGE = Actor(user_id="1", account_role="JUDGE", name="Bench Judge")
_COLS = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)


async def _new_sessions(court: Courtroom, k: int) -> list[str]:
    created = await asyncio.gather(*(court.create_session(JUDGE, title="bench") for _ in range(k)))
    return [c.entries[0].session_id for c in created]


def _rows(session_id: str, first_seq: int, n: int) -> list[tuple[Any, ...]]:
    """``n`` correctly chained NOTE rows, as the writer stores them."""
    ts = format_timestamp(datetime.now(UTC))
    prev = GENESIS_HASH
    rows = []
    for i in range(n):
        seq = first_seq + i
        details = canonical_details({"i": i})
        h = entry_hash_canonical(session_id, seq, ts, "NOTE", JUDGE.user_id, details, prev)
        rows.append((session_id, seq, ts, "NOTE", JUDGE.user_id, details, prev, h, ts))
        prev = h
    return rows


def _interleave(per_session: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """One row of each session in turn: how the writer's batches hold them."""
    return [row for group in zip(*per_session, strict=True) for row in group]


class RawWriter:
    """The bare-driver baseline: INSERT batches of rows, one transaction each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    async def write(self, rows: list[tuple[Any, ...]], per_txn: int) -> None:
        if self.sqlite:
            await asyncio.to_thread(self._sqlite, rows, per_txn)
        else:
            await self._pg(rows, per_txn)

    def _sqlite(self, rows: list[tuple[Any, ...]], per_txn: int) -> None:
        path = self.url.split("///", 1)[1]
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        sql = f"INSERT INTO session_log_entries ({_COLS}) VALUES ({', '.join('?' * 9)})"
        try:
            for i in range(0, len(rows), per_txn):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows[i : i + per_txn])
                conn.execute("COMMIT")
        finally:
            conn.close()

    async def _pg(self, rows: list[tuple[Any, ...]], per_txn: int) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        marks = ", ".join(f"${i}" for i in range(1, 10))
        sql = f"INSERT INTO session_log_entries ({_COLS}) VALUES ({marks})"
        try:
            for i in range(0, len(rows), per_txn):
                async with conn.transaction():
                    await conn.executemany(sql, rows[i : i + per_txn])
        finally:
            await conn.close()


async def bench_backend(
    label: str, url: str, args: argparse.Namespace
) -> tuple[list[Row], dict[str, float]]:
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    raw = RawWriter(store.write_engine.url.render_as_string(hide_password=False))
    heap = HeapKeeper()
    k, per, seq_n = args.sessions, args.per_session, args.sequential
    batch_base = f"{label}: raw INSERT, {k} rows/txn (bare driver)"
    one_base = f"{label}: raw INSERT, 1 row/txn, sequential (bare driver)"

    async def raw_batches() -> tuple[int, float]:
        sids = await _new_sessions(court, k)
        rows = _interleave([_rows(s, 2, per) for s in sids])
        t0 = time.perf_counter()
        await raw.write(rows, k)
        return len(rows), time.perf_counter() - t0

    async def raw_one() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)
        rows = _rows(sid, 2, seq_n)
        t0 = time.perf_counter()
        await raw.write(rows, 1)
        return seq_n, time.perf_counter() - t0

    async def sessions() -> tuple[int, float]:
        sids = await _new_sessions(court, k)

        async def client(s: str) -> None:
            for i in range(per):
                await court.execute(s, LogCustom("NOTE", {"i": i}), JUDGE)

        batches = store.writer.batches
        t0 = time.perf_counter()
        await asyncio.gather(*(client(s) for s in sids))
        dt = time.perf_counter() - t0
        made = store.writer.batches - batches
        print(f"  {label}: {k * per} commands in {made} transactions ({k * per / made:.1f} each)")
        for s in sids:
            await _check(store, label, s, per + 1)
        return k * per, dt

    async def sequential() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)
        t0 = time.perf_counter()
        for i in range(seq_n):
            await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
        dt = time.perf_counter() - t0
        await _check(store, label, sid, seq_n + 1)
        return seq_n, dt

    async def lone_latency() -> dict[str, float]:
        (sid,) = await _new_sessions(court, 1)
        lat = []
        for i in range(args.lone):
            await asyncio.sleep(0.002)  # idle: nothing else queued
            t0 = time.perf_counter()
            await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
            lat.append((time.perf_counter() - t0) * 1000)
        q = statistics.quantiles(lat, n=100)
        return {"p50_ms": statistics.median(lat), "p99_ms": q[98], "max_ms": max(lat)}

    try:
        (warm,) = await _new_sessions(court, 1)  # connections, statement caches
        for i in range(50):
            await court.execute(warm, LogCustom("NOTE", {"i": i}), JUDGE)
        if not args.no_gc_freeze:
            heap.start()  # as the server after its startup
        r = args.repeat
        rows = [
            await clean_case(batch_base, raw_batches, repeat=r, retries=args.retries),
            await clean_case(
                f"{label}: Courtroom.execute, {k} sessions concurrently",
                sessions,
                baseline=batch_base,
                repeat=r,
                retries=args.retries,
            ),
            await clean_case(one_base, raw_one, repeat=r, retries=args.retries),
            await clean_case(
                f"{label}: Courtroom.execute, 1 session, 1 client sequentially",
                sequential,
                baseline=one_base,
                repeat=r,
                retries=args.retries,
            ),
        ]
        if store.writer.concurrency > 1:  # PostgreSQL: the same load, one batch at a time
            in_flight = store.writer.concurrency

            async def one_batch() -> tuple[int, float]:
                store.writer.concurrency = 1
                try:
                    return await sessions()
                finally:
                    store.writer.concurrency = in_flight

            rows.append(
                await clean_case(
                    f"{label}: Courtroom.execute, {k} sessions, one batch at a time",
                    one_batch,
                    baseline=batch_base,
                    repeat=r,
                    retries=args.retries,
                )
            )
        return rows, await lone_latency()
    finally:
        heap.stop()  # the next backend freezes its own warm state
        await store.close()


async def _check(store: SessionStore, label: str, sid: str, entries: int) -> None:
    """The log the real path wrote is gap-free and verifies (not timed)."""
    v = await store.verify(sid)
    if not (v.valid and v.entries == entries):
        print(f"WARNING: {label} session {sid}: expected {entries} valid entries, got {v}")


async def bench_hash(n: int) -> list[Row]:
    sid = "5f1c5b0e-8a47-4c55-9d2b-3d2f6a0f9c11"
    ts = format_timestamp(datetime.now(UTC))
    details = [canonical_details({"i": i}) for i in range(n)]
    objs = [{"i": i} for i in range(n)]

    async def hash_only() -> tuple[int, float]:
        prev = GENESIS_HASH
        t0 = time.perf_counter()
        for i in range(n):
            prev = entry_hash_canonical(sid, i + 1, ts, "NOTE", "1", details[i], prev)
        return n, time.perf_counter() - t0

    async def with_details() -> tuple[int, float]:
        prev = GENESIS_HASH
        t0 = time.perf_counter()
        for i in range(n):
            d = canonical_details(objs[i])
            prev = entry_hash_canonical(sid, i + 1, ts, "NOTE", "1", d, prev)
        return n, time.perf_counter() - t0

    return [
        await clean_case("chain: entry_hash_canonical", hash_only, unit="entries/s", repeat=3),
        await clean_case(
            "chain: canonical_details + entry_hash_canonical",
            with_details,
            unit="entries/s",
            repeat=3,
        ),
    ]


async def main(args: argparse.Namespace) -> None:
    results: list[tuple[str, list[Row], dict[str, float]]] = []
    others = Neighbours()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            results.append(("sqlite", *await bench_backend("sqlite", url, args)))
    if args.backend in ("postgres", "both"):
        async with scratch_pg() as pg_url:
            if pg_url is not None:
                results.append(("postgres", *await bench_backend("postgres", pg_url, args)))
    rows = [r for _, rs, _ in results for r in rs]
    print_table(f"log appends (1 entry per command; median of {args.repeat} runs)", rows)
    print("\nlone command on an idle server (latency, ms)")
    for backend, _, lat in results:
        print(
            f"  {backend}: p50 {lat['p50_ms']:.2f}  p99 {lat['p99_ms']:.2f}  max {lat['max_ms']:.2f}"
        )
    print_table("chain hash alone", await bench_hash(args.hash_n))
    print(f"whole run (repeated cases included): {others.line()}")
    for backend, rs, lat in results:
        batch_base, many, one_base, one = rs[:4]
        common = {"bench": "append", "backend": backend, "gc_freeze": not args.no_gc_freeze}
        print(
            json.dumps(
                {
                    **common,
                    "case": "sessions",
                    "sessions": args.sessions,
                    "per_s": round(many.rate),
                    "baseline_per_s": round(batch_base.rate),
                }
            )
        )
        print(
            json.dumps(
                {
                    **common,
                    "case": "sequential",
                    "sessions": 1,
                    "per_s": round(one.rate),
                    "baseline_per_s": round(one_base.rate),
                }
            )
        )
        print(
            json.dumps(
                {**common, "case": "lone_latency", **{k: round(v, 3) for k, v in lat.items()}}
            )
        )
        if len(rs) > 4:  # the same 64 sessions, one batch at a time (the writer before)
            print(
                json.dumps(
                    {
                        **common,
                        "case": "sessions_one_batch",
                        "sessions": args.sessions,
                        "per_s": round(rs[4].rate),
                        "in_flight_per_s": round(many.rate),
                    }
                )
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer appends (a smoke run)")
    ap.add_argument("--sessions", type=int, default=64, help="sessions written at once (64)")
    ap.add_argument("--per-session", type=int, default=None, help="commands per session (100)")
    ap.add_argument("--sequential", type=int, default=None, help="commands, 1 session (2000)")
    ap.add_argument("--lone", type=int, default=None, help="lone commands timed (1000)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per case, median kept (3)")
    ap.add_argument("--retries", type=int, default=4, help="reruns of a case disturbed by others")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="Python's default collector (a server with COURTROOM_GC_FREEZE=0)",
    )
    add_quiet_option(ap)
    args = ap.parse_args()
    args.per_session = args.per_session or (20 if args.quick else 100)
    args.sequential = args.sequential or (300 if args.quick else 2000)
    args.lone = args.lone or (200 if args.quick else 1000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.hash_n = 20_000 if args.quick else 200_000
    loop = install_loop(args.loop)
    wait_for_quiet(args.wait_quiet)
    freeze = "off" if args.no_gc_freeze else "frozen after warm-up, as the server"
    print(f"bench_append: {machine()}, loop {loop}, heap {freeze}")
    asyncio.run(main(args))
