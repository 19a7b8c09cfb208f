"""Log appends per second through the real command path, with baselines.

    .venv/bin/python bench/bench_append.py [--quick] [--n N] [--backend sqlite|postgres|both]

What runs, for SQLite (a file in a temp dir) and PostgreSQL (a scratch
``bench_<random>`` database, migrated, dropped at the end):

* ``Courtroom.execute(LogCustom("NOTE", {"i": n}))`` by a judge: the whole
  path (per-session asyncio lock, one transaction with the row lock, rules,
  chain hash, insert, session-row update, commit, publish to the in-memory
  broker) on one session sequentially, from C concurrent tasks on one
  session, and on 8 sessions concurrently;
* baseline: the same rows as raw ``INSERT``s through the same engine, one
  transaction per row (sequentially, and from 8 tasks), so the cost of the
  rules, state and chain is visible; and the same rows 100 per transaction,
  the ceiling a group commit could approach;
* the chain hash alone: ``entry_hash_canonical`` entries/s (and with
  ``canonical_details``, as the append path calls it).

Not a test: it prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
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
from sqlalchemy import insert

from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical, format_timestamp
from server.broker import MemoryBroker
from server.courtroom import Courtroom
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate
from store._schema import session_log_entries as L
from timers import system_clock

JUDGE = Actor(user_id="1", account_role="JUDGE", name="Bench Judge")
SESSIONS = 8


async def _new_sessions(court: Courtroom, k: int) -> list[str]:
    out = []
    for _ in range(k):
        c = await court.create_session(JUDGE, title="bench")
        out.append(c.entries[0].session_id)
    return out


def _rows(session_id: str, first_seq: int, n: int) -> list[dict[str, Any]]:
    """``n`` correctly chained NOTE rows, as ``SessionStore`` writes them."""
    ts = format_timestamp(datetime.now(UTC))
    prev = GENESIS_HASH
    rows = []
    for i in range(n):
        seq = first_seq + i
        details = canonical_details({"i": i})
        h = entry_hash_canonical(session_id, seq, ts, "NOTE", JUDGE.user_id, details, prev)
        rows.append(
            {
                "session_id": session_id,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": "NOTE",
                "actor_id": JUDGE.user_id,
                "details": details,
                "previous_hash": prev,
                "hash_chain": h,
                "created_at": ts,
            }
        )
        prev = h
    return rows


async def bench_backend(label: str, url: str, n: int, tasks: int, repeat: int) -> list[Row]:
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    eng = store.write_engine
    per = n // SESSIONS
    each = n // tasks
    seq_base = f"{label}: raw INSERT, 1 row/txn, sequential"
    par_base = f"{label}: raw INSERT, 1 row/txn, {SESSIONS} tasks"

    # --- baselines: raw INSERTs of the same rows through the same engine -------

    async def raw_sequential() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)
        data = _rows(sid, 2, n)
        t0 = time.perf_counter()
        for r in data:
            async with eng.begin() as c:
                await c.execute(insert(L), r)
        return n, time.perf_counter() - t0

    async def raw_tasks() -> tuple[int, float]:
        chunks = [_rows(sid, 2, per) for sid in await _new_sessions(court, SESSIONS)]

        async def worker(chunk: list[dict[str, Any]]) -> None:
            for r in chunk:
                async with eng.begin() as c:
                    await c.execute(insert(L), r)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(ch) for ch in chunks))
        return per * SESSIONS, time.perf_counter() - t0

    async def raw_batched() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)
        data = _rows(sid, 2, n)
        t0 = time.perf_counter()
        for i in range(0, n, 100):
            async with eng.begin() as c:
                await c.execute(insert(L), data[i : i + 100])
        return n, time.perf_counter() - t0

    # --- the real path -----------------------------------------------------------

    async def sequential() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)
        t0 = time.perf_counter()
        for i in range(n):
            await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
        dt = time.perf_counter() - t0
        await _check(store, label, sid, n + 1)
        return n, dt

    async def one_session_tasks() -> tuple[int, float]:
        (sid,) = await _new_sessions(court, 1)

        async def worker(w: int) -> None:
            for i in range(each):
                await court.execute(sid, LogCustom("NOTE", {"i": i, "w": w}), JUDGE)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(tasks)))
        dt = time.perf_counter() - t0
        await _check(store, label, sid, each * tasks + 1)
        return each * tasks, dt

    async def sessions() -> tuple[int, float]:
        sids = await _new_sessions(court, SESSIONS)

        async def worker(s: str) -> None:
            for i in range(per):
                await court.execute(s, LogCustom("NOTE", {"i": i}), JUDGE)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(s) for s in sids))
        dt = time.perf_counter() - t0
        for s in sids:
            await _check(store, label, s, per + 1)
        return per * SESSIONS, dt

    try:
        # Warm up: connections, statement caches.
        (warm,) = await _new_sessions(court, 1)
        for i in range(50):
            await court.execute(warm, LogCustom("NOTE", {"i": i}), JUDGE)
        return [
            await clean_case(seq_base, raw_sequential, repeat=repeat),
            await clean_case(par_base, raw_tasks, repeat=repeat),
            await clean_case(
                f"{label}: raw INSERT, 100 rows/txn",
                raw_batched,
                note="group-commit ceiling",
                repeat=repeat,
            ),
            await clean_case(
                f"{label}: Courtroom.execute, 1 session, sequential",
                sequential,
                baseline=seq_base,
                repeat=repeat,
            ),
            await clean_case(
                f"{label}: Courtroom.execute, 1 session, {tasks} tasks",
                one_session_tasks,
                baseline=seq_base,
                repeat=repeat,
            ),
            await clean_case(
                f"{label}: Courtroom.execute, {SESSIONS} sessions concurrently",
                sessions,
                baseline=par_base,
                repeat=repeat,
            ),
        ]
    finally:
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
    rows: list[Row] = []
    others = Neighbours()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            rows += await bench_backend("sqlite", url, args.n, args.tasks, args.repeat)
    if args.backend in ("postgres", "both"):
        async with scratch_pg() as pg_url:
            if pg_url is not None:
                rows += await bench_backend("postgres", pg_url, args.n, args.tasks, args.repeat)
    print_table(
        f"log appends ({args.n} commands per run, 1 entry each; median of {args.repeat} runs)",
        rows,
    )
    print_table("chain hash alone", await bench_hash(args.hash_n))
    print(f"whole run (repeated cases included): {others.line()}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer appends (a smoke run)")
    ap.add_argument("--n", type=int, default=None, help="appends per case (default 1536)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per case, median kept (3)")
    ap.add_argument("--tasks", type=int, default=8, help="concurrent tasks on one session")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    add_quiet_option(ap)
    args = ap.parse_args()
    args.n = args.n or (384 if args.quick else 1536)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.n -= args.n % (SESSIONS * args.tasks)
    args.hash_n = 20_000 if args.quick else 200_000
    loop = install_loop(args.loop)
    wait_for_quiet(args.wait_quiet)
    print(f"bench_append: {machine()}, loop {loop}")
    asyncio.run(main(args))
