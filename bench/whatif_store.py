"""What-if figures for the store: how much each known cost is worth, measured.

    .venv/bin/python bench/whatif_store.py [--quick]

Not a benchmark of the product: each case changes one thing *from the
outside* (engine options passed in, or a stand-alone read/write path written
here) to size a fix before anyone builds it. The store's code is not touched.

* PostgreSQL, ``Courtroom.execute`` sequentially on one session:
  as configured; with ``pool_pre_ping=False`` (the ping is BEGIN; ";";
  ROLLBACK: three round trips per transaction); and additionally with
  ``synchronous_commit=off`` (what the commit's WAL flush costs; not a
  proposal, durability matters here).
* SQLite: one aiosqlite round trip (``SELECT 1``), and the whole append
  transaction (BEGIN IMMEDIATE, select head, insert entry, update session,
  COMMIT) done by the stdlib ``sqlite3`` module in one executor hop, one
  command per transaction and 100 commands per transaction (group commit).
* Verify read: the entries of a 50k-entry session as 8-column tuples in one
  streamed SQLAlchemy query, and through the bare driver (one asyncpg
  ``fetch``; stdlib ``sqlite3`` in one thread hop), fed straight to
  ``ChainVerifier`` (against ``SessionStore.verify``).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from _common import (
    Row,
    add_quiet_option,
    clean_case,
    install_loop,
    machine,
    print_table,
    scratch_pg,
    wait_for_quiet,
)
from bench_append import JUDGE, _new_sessions
from bench_verify import bench_store
from sqlalchemy import select

import store._sessions as store_sessions
from protocol import ChainVerifier, canonical_details, entry_hash_canonical
from server.broker import MemoryBroker
from server.courtroom import Courtroom
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from store import SessionStore, migrate, ms_to_iso, now_ms
from store._engine import create_engine
from store._schema import session_log_entries as L
from timers import system_clock


def _store(url: str, **engine_kwargs: Any) -> SessionStore:
    """A SessionStore whose engines get ``engine_kwargs`` (swapped in from outside)."""
    original = store_sessions.create_engine  # type: ignore[attr-defined]
    store_sessions.create_engine = lambda u, **kw: create_engine(  # type: ignore[attr-defined]
        u, **{**engine_kwargs, **kw}
    )
    try:
        return SessionStore(url)
    finally:
        store_sessions.create_engine = original  # type: ignore[attr-defined]


async def pg_cases(url: str, n: int) -> list[Row]:
    await migrate(url)
    variants: list[tuple[str, dict[str, Any]]] = [
        ("postgres: Courtroom.execute, sequential, as configured", {}),
        ("postgres: ... with pool_pre_ping=False", {"pool_pre_ping": False}),
        (
            "postgres: ... and synchronous_commit=off",
            {
                "pool_pre_ping": False,
                "connect_args": {"server_settings": {"synchronous_commit": "off"}},
            },
        ),
    ]
    rows = []
    for name, kw in variants:
        store = _store(url, **kw)
        court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())

        async def run(court: Courtroom = court) -> tuple[int, float]:
            (sid,) = await _new_sessions(court, 1)
            t0 = time.perf_counter()
            for i in range(n):
                await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
            return n, time.perf_counter() - t0

        try:
            await run()  # warm up
            rows.append(await clean_case(name, run, baseline=variants[0][0], repeat=3))
        finally:
            await store.close()
    return rows


def _append_txn(db: sqlite3.Connection, sid: str, cmds: int) -> None:
    """The append transaction by hand with stdlib sqlite3: ``cmds`` commands, one commit."""
    db.execute("BEGIN IMMEDIATE")
    for _ in range(cmds):
        seq, prev, state = db.execute(
            "SELECT head_seq, head_hash, state FROM courtroom_sessions WHERE id = ?", (sid,)
        ).fetchone()
        st = orjson.loads(state)  # the rules would run here
        seq += 1
        ts = ms_to_iso(now_ms())
        details = canonical_details({"i": seq})
        h = entry_hash_canonical(sid, seq, ts, "NOTE", JUDGE.user_id, details, prev)
        db.execute(
            "INSERT INTO session_log_entries (session_id, sequence_number, timestamp, event_type,"
            " actor_id, details, previous_hash, hash_chain, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, seq, ts, "NOTE", JUDGE.user_id, details, prev, h, ts),
        )
        db.execute(
            "UPDATE courtroom_sessions SET head_seq = ?, head_hash = ?, state = ? WHERE id = ?",
            (seq, h, orjson.dumps(st).decode(), sid),
        )
    db.execute("COMMIT")


async def sqlite_cases(tmp: Path, n: int) -> list[Row]:
    import aiosqlite

    url = f"sqlite+aiosqlite:///{tmp / 'whatif.db'}"
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    sids = await _new_sessions(court, 3)
    rows: list[Row] = []

    async def real() -> tuple[int, float]:
        t0 = time.perf_counter()
        for i in range(n):
            await court.execute(sids[0], LogCustom("NOTE", {"i": i}), JUDGE)
        return n, time.perf_counter() - t0

    base = "sqlite: Courtroom.execute, sequential (15 aiosqlite hops each)"
    rows.append(await clean_case(base, real, repeat=3))
    await store.close()

    async with aiosqlite.connect(tmp / "whatif.db") as db:

        async def hop() -> tuple[int, float]:
            t0 = time.perf_counter()
            for _ in range(n):
                await (await db.execute("SELECT 1")).fetchall()
            return n, time.perf_counter() - t0

        rows.append(
            await clean_case(
                "sqlite: one aiosqlite round trip (SELECT 1; cursor+execute+fetchall)",
                hop,
                repeat=3,
            )
        )

    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
    conn = sqlite3.connect(tmp / "whatif.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")

    async def one_hop(per_txn: int, sid: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        for _ in range(n // per_txn):
            await loop.run_in_executor(pool, _append_txn, conn, sid, per_txn)
        return n // per_txn * per_txn, time.perf_counter() - t0

    rows.append(
        await clean_case(
            "sqlite: whole append txn in one executor hop (stdlib sqlite3)",
            lambda: one_hop(1, sids[1]),
            baseline=base,
            repeat=3,
        )
    )
    rows.append(
        await clean_case(
            "sqlite: ... 100 commands per txn (group commit)",
            lambda: one_hop(100, sids[2]),
            baseline=base,
            repeat=3,
        )
    )
    conn.close()
    pool.shutdown()
    return rows


async def verify_read(label: str, url: str, n: int) -> list[Row]:
    rows = await bench_store(label, url, n)  # populates a session; keeps its verify figure
    store = SessionStore(url)
    try:
        sid = next(s["id"] for s in await store.list_sessions(["pending"]) if s["head_seq"] == n)
        cols = (
            L.c.session_id,
            L.c.sequence_number,
            L.c.timestamp,
            L.c.event_type,
            L.c.actor_id,
            L.c.details,
            L.c.previous_hash,
            L.c.hash_chain,
        )
        q = select(*cols).where(L.c.session_id == sid).order_by(L.c.sequence_number)

        async def narrow() -> tuple[int, float]:
            t0 = time.perf_counter()
            v = ChainVerifier(sid)
            feed = v.feed_canonical
            async with store.read_engine.connect() as c:
                result = await c.stream(q.execution_options(yield_per=10_000))
                async for part in result.partitions():
                    for r in part:
                        feed(*r)
            dt = time.perf_counter() - t0
            res = v.result()
            if not (res.valid and res.entries == n):
                print(f"WARNING: {label} narrow verify: {res}")
            return n, dt

        rows.append(
            await clean_case(
                f"{label}: verify via 8-column tuples, one stream",
                narrow,
                unit="entries/s",
                baseline=f"{label}: SessionStore.verify",
                repeat=5,
            )
        )
        raw_sql = (
            "SELECT session_id, sequence_number, timestamp, event_type, actor_id, details,"
            " previous_hash, hash_chain FROM session_log_entries WHERE session_id = {p}"
            " ORDER BY sequence_number"
        )
        if label == "postgres":
            import asyncpg

            dsn = url.replace("postgresql+asyncpg://", "postgres://").replace(
                "postgresql://", "postgres://"
            )

            async def raw() -> tuple[int, float]:
                t0 = time.perf_counter()
                v = ChainVerifier(sid)
                feed = v.feed_canonical
                conn = await asyncpg.connect(dsn)
                try:
                    for r in await conn.fetch(raw_sql.format(p="$1"), sid):
                        feed(*r)
                finally:
                    await conn.close()
                return v.result().entries, time.perf_counter() - t0

            name = f"{label}: verify via one asyncpg fetch (no SQLAlchemy)"
        else:
            path = url.split("///", 1)[1]

            def verify_sync() -> int:
                v = ChainVerifier(sid)
                feed = v.feed_canonical
                db = sqlite3.connect(path)
                try:
                    for r in db.execute(raw_sql.format(p="?"), (sid,)):
                        feed(*r)
                finally:
                    db.close()
                return v.result().entries

            async def raw() -> tuple[int, float]:
                t0 = time.perf_counter()
                count = await asyncio.to_thread(verify_sync)
                return count, time.perf_counter() - t0

            name = f"{label}: verify via stdlib sqlite3 in one thread hop"
        rows.append(
            await clean_case(
                name,
                raw,
                unit="entries/s",
                baseline=f"{label}: SessionStore.verify",
                repeat=5,
            )
        )
    finally:
        await store.close()
    return [r for r in rows if "stream_entries" not in r.name]


async def main(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-whatif-") as tmp:
        rows += await sqlite_cases(Path(tmp), args.n)
        rows += await verify_read(
            "sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'verify.db'}", args.entries
        )
    async with scratch_pg() as url:
        if url is not None:
            rows += await pg_cases(url, args.n)
            rows += await verify_read("postgres", url, args.entries)
    print_table("what-if: the store's known costs, sized", rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    add_quiet_option(ap)
    args = ap.parse_args()
    args.n = 300 if args.quick else 1500
    args.entries = 5_000 if args.quick else 50_000
    loop = install_loop(args.loop)
    wait_for_quiet(args.wait_quiet)
    print(f"whatif_store: {machine()}, loop {loop}")
    asyncio.run(main(args))
