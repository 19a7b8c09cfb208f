"""Verification speed: entries/s of the chain verifier, in memory and from the store.

    .venv/bin/python bench/bench_verify.py [--quick] [--entries N] [--backend sqlite|postgres|both]
        [--retries N]

* ``ChainVerifier.feed_canonical`` over N in-memory entries (``LogEntry``);
* ``SessionStore.verify`` over one stored session of N entries, on SQLite (a
  file in a temp dir) and PostgreSQL (a scratch ``bench_<random>`` database):
  in one pass (``workers=1``, the in-run baseline) and in ranges, one per CPU
  (``store/_verify.py``): where the C reader was built (``store/_verify_native.c``,
  which releases the GIL) in this process, on threads (SQLite) or over a
  connection each (PostgreSQL), else in worker processes.
  The session is created through ``Courtroom.create_session`` and then filled
  with correctly chained rows by bulk inserts (that part is not timed). The
  store's paged read alone (``stream_entries``) is timed too, so the split
  between reading and hashing is visible;
* baseline: bare ``hashlib.sha256(payload).hexdigest()`` over the same
  payload bytes the chain hashes (the floor of any verifier in Python).

Not a test: it prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
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
from sqlalchemy import insert, update

from protocol import (
    GENESIS_HASH,
    ChainVerifier,
    canonical_details,
    entry_hash_canonical,
    format_timestamp,
)
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import LogEntry, SessionStore, migrate
from store._schema import courtroom_sessions as S, session_log_entries as L
from store._verify import default_workers, native_verify
from timers import system_clock

JUDGE = Actor(user_id="1", account_role="JUDGE", name="Bench Judge")
REPEAT = 5  # runs per case; the median is kept
RETRIES = 4  # noisy runs repeated (each after waiting for quiet); --retries


def chain_after(first: LogEntry, n: int) -> list[LogEntry]:
    """``first`` followed by entries 2..n, correctly chained, with realistic details."""
    sid = first.session_id
    ts = format_timestamp(datetime.now(UTC))
    out = [first]
    prev = first.hash
    for seq in range(2, n + 1):
        details = canonical_details({"i": seq, "note": "objection sustained", "by": "bench"})
        h = entry_hash_canonical(sid, seq, ts, "NOTE", JUDGE.user_id, details, prev)
        out.append(LogEntry(sid, seq, ts, "NOTE", JUDGE.user_id, details, prev, h))
        prev = h
    return out


def payload(e: LogEntry) -> bytes:
    """The chain v1 payload bytes of ``e`` (what ``entry_hash_canonical`` hashes)."""
    return (
        '{"actor_id": '
        + ("null" if e.actor_id is None else _quote(e.actor_id))
        + ', "details": '
        + _quote(e.details_json)
        + ', "event_type": '
        + _quote(e.event_type)
        + ', "previous_hash": '
        + _quote(e.previous_hash)
        + ', "sequence_number": '
        + str(e.sequence_number)
        + ', "session_id": '
        + _quote(e.session_id)
        + ', "timestamp": '
        + _quote(e.timestamp)
        + "}"
    ).encode()


async def bench_memory(entries: list[LogEntry]) -> list[Row]:
    n = len(entries)
    payloads = [payload(e) for e in entries]
    assert hashlib.sha256(payloads[-1]).hexdigest() == entries[-1].hash, "payload drifted"
    sha = hashlib.sha256

    async def bare_sha() -> tuple[int, float]:
        t0 = time.perf_counter()
        for p in payloads:
            sha(p).hexdigest()
        return n, time.perf_counter() - t0

    async def hash_only() -> tuple[int, float]:
        t0 = time.perf_counter()
        for e in entries:
            entry_hash_canonical(
                e.session_id,
                e.sequence_number,
                e.timestamp,
                e.event_type,
                e.actor_id,
                e.details_json,
                e.previous_hash,
            )
        return n, time.perf_counter() - t0

    async def verifier() -> tuple[int, float]:
        t0 = time.perf_counter()
        v = ChainVerifier(entries[0].session_id)
        feed = v.feed_canonical
        for e in entries:
            feed(
                e.session_id,
                e.sequence_number,
                e.timestamp,
                e.event_type,
                e.actor_id,
                e.details_json,
                e.previous_hash,
                e.hash,
            )
        dt = time.perf_counter() - t0
        r = v.result()
        assert r.valid and r.entries == n, r
        return n, dt

    tuples = [
        (
            e.session_id,
            e.sequence_number,
            e.timestamp,
            e.event_type,
            e.actor_id,
            e.details_json,
            e.previous_hash,
            e.hash,
        )
        for e in entries
    ]

    async def rows() -> tuple[int, float]:
        t0 = time.perf_counter()
        v = ChainVerifier(entries[0].session_id)
        v.feed_rows(tuples)
        dt = time.perf_counter() - t0
        r = v.result()
        assert r.valid and r.entries == n, r
        return n, dt

    base = "baseline: hashlib.sha256 over the payload bytes"
    return [
        await clean_case(base, bare_sha, unit="entries/s", repeat=REPEAT, retries=RETRIES),
        await clean_case(
            "memory: entry_hash_canonical (build payload + sha256)",
            hash_only,
            unit="entries/s",
            repeat=REPEAT,
            baseline=base,
            retries=RETRIES,
        ),
        await clean_case(
            "memory: ChainVerifier.feed_canonical",
            verifier,
            unit="entries/s",
            repeat=REPEAT,
            baseline=base,
            retries=RETRIES,
        ),
        await clean_case(
            "memory: ChainVerifier.feed_rows (tuples, as the store reads them)",
            rows,
            unit="entries/s",
            repeat=REPEAT,
            baseline=base,
            retries=RETRIES,
        ),
    ]


async def bench_store(label: str, url: str, n: int) -> list[Row]:
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    try:
        created = await court.create_session(JUDGE, title="bench verify")
        entries = chain_after(created.entries[0], n)
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = [
            {
                "session_id": e.session_id,
                "sequence_number": e.sequence_number,
                "timestamp": e.timestamp,
                "event_type": e.event_type,
                "actor_id": e.actor_id,
                "details": e.details_json,
                "previous_hash": e.previous_hash,
                "hash_chain": e.hash,
                "created_at": e.timestamp,
            }
            for e in entries[1:]
        ]
        async with store.write_engine.begin() as c:
            for i in range(0, len(rows), 5000):
                await c.execute(insert(L), rows[i : i + 5000])
            await c.execute(
                update(S)
                .where(S.c.id == created.entries[0].session_id)
                .values(head_seq=n, head_hash=entries[-1].hash)
            )
        print(f"{label}: populated {n} entries in {time.perf_counter() - t0:.1f} s (not timed)")
        sid = created.entries[0].session_id
        await store.verify(sid)  # warm the page cache and buffers once

        async def read() -> tuple[int, float]:
            t0 = time.perf_counter()
            count = 0
            async for _ in store.stream_entries(sid):
                count += 1
            return count, time.perf_counter() - t0

        async def verify(workers: int | None) -> tuple[int, float]:
            t0 = time.perf_counter()
            result = await store.verify(sid, workers=workers)
            dt = time.perf_counter() - t0
            if not (result.valid and result.entries == n and result.head_hash == entries[-1].hash):
                print(f"WARNING: {label} verify did not accept the log: {result}")
            return n, dt

        workers = default_workers()
        # with the C reader (store/_verify_native.c) the ranges run in this process
        how = (
            "processes"
            if native_verify is None
            else {"sqlite": "threads"}.get(label, "connections")
        )
        await store.verify(sid, workers=workers)  # start the worker pool (once per process)
        base = f"{label}: SessionStore.verify, one pass (workers=1)"
        return [
            await clean_case(
                f"{label}: stream_entries alone (read, no hashing)",
                read,
                unit="entries/s",
                repeat=REPEAT,
                retries=RETRIES,
            ),
            await clean_case(
                base,
                lambda: verify(1),
                unit="entries/s",
                repeat=REPEAT,
                retries=RETRIES,
            ),
            await clean_case(
                f"{label}: SessionStore.verify, {workers} {how} over ranges",
                lambda: verify(workers),
                unit="entries/s",
                repeat=REPEAT,
                retries=RETRIES,
                baseline=base,
            ),
        ]
    finally:
        await store.close()


def first_entry(session_id: str) -> LogEntry:
    """A stand-in for ``SESSION_CREATED`` at sequence 1, hashed off the genesis hash."""
    ts = format_timestamp(datetime.now(UTC))
    details = canonical_details({"title": "bench"})
    prev = GENESIS_HASH
    h = entry_hash_canonical(session_id, 1, ts, "SESSION_CREATED", "1", details, prev)
    return LogEntry(session_id, 1, ts, "SESSION_CREATED", "1", details, prev, h)


async def main(args: argparse.Namespace) -> None:
    others = Neighbours()
    created = first_entry("5f1c5b0e-8a47-4c55-9d2b-3d2f6a0f9c11")
    rows = await bench_memory(chain_after(created, args.entries))
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            rows += await bench_store("sqlite", url, args.entries)
    if args.backend in ("postgres", "both"):
        async with scratch_pg() as pg_url:
            if pg_url is not None:
                rows += await bench_store("postgres", pg_url, args.entries)
    print_table(f"verify ({args.entries} entries per case; median of {REPEAT} runs)", rows)
    print(f"whole run (repeated cases included): {others.line()}")
    by = {r.name: r for r in rows}
    for r in rows:
        line: dict[str, Any] = {
            "bench": "verify",
            "case": r.name,
            "entries": r.count,
            "per_s": round(r.rate),
        }
        if r.baseline:
            line["baseline_per_s"] = round(by[r.baseline].rate)
        print(json.dumps(line))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer entries (a smoke run)")
    ap.add_argument("--entries", type=int, default=None, help="entries per case (default 50000)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument(
        "--retries",
        type=int,
        default=RETRIES,
        help="repeats of a noisy run, each after waiting up to 300 s for quiet (0: keep it, NOISY)",
    )
    add_quiet_option(ap)
    args = ap.parse_args()
    RETRIES = args.retries
    args.entries = args.entries or (5_000 if args.quick else 50_000)
    loop = install_loop(args.loop)
    wait_for_quiet(args.wait_quiet)
    print(f"bench_verify: {machine()}, loop {loop}")
    asyncio.run(main(args))
