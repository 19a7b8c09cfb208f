"""Verify a stored log with the bare driver: the hashed columns only, in large pages.

Verification reads every entry of a session once, so the read path is what
limits it (docs/benchmarks.md): no SQLAlchemy rows, no ``LogEntry`` objects,
just tuples of the eight hashed columns fed to ``ChainVerifier.feed_rows``.

A long log is verified in ranges of sequence numbers, each read over its own
connection; without the C reader below, one per worker process (hashing in
Python is CPU-bound: threads would share one core). Every entry carries its predecessor's
hash, so ``join_parts`` checks only the links at the ranges' edges and gives
the same result as one pass (``protocol.ChainPart``). The pool is started once
and kept (spawned processes, not forked: the server has threads).

Short logs, or ``workers=1``, take one pass: SQLite reads and hashes on the
calling thread; PostgreSQL reads a page while the previous one is hashed on a
thread, so the event loop is never held for a page.

A pass or a range is first read by ``store/_verify_native.c`` where the
package was built with it: on SQLite through SQLite's own API, on PostgreSQL as
COPY text a page at a time; chain v1 in C, no Python row made, the GIL
released (so the ranges then run in this process: threads on SQLite,
coroutines over a connection each on PostgreSQL). It verifies the longest run
of rows it accepts and stops, without judging, at anything else (a column of
another type, text that is not UTF-8, a broken link, an error); the Python
reader goes on from there and judges that row as before, so the result never
depends on which ran.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from protocol import (
    GENESIS_HASH,
    ChainPart,
    ChainVerifier,
    PartVerifier,
    VerifyResult,
    join_parts,
)
from protocol.errors import StoreError, Unavailable

_COLS = (
    'session_id, sequence_number, "timestamp", event_type, actor_id, details,'
    " previous_hash, hash_chain"
)
PAGE = 50_000
# Below this many entries one pass is quicker than handing ranges to processes.
PARALLEL_MIN = 20_000


def default_workers() -> int:
    """Worker processes for a long log: ``COURTROOM_VERIFY_WORKERS``, else the CPU count (≤ 8)."""
    env = os.environ.get("COURTROOM_VERIFY_WORKERS")
    if env and env.isdigit():
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            ctx = multiprocessing.get_context("spawn")
            _pool, _pool_size = ProcessPoolExecutor(workers, mp_context=ctx), workers
        return _pool


def shutdown_pool() -> None:
    """Stop the worker processes (tests; the interpreter's exit does it too)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def split(low: int, high: int, n: int) -> list[tuple[int | None, int | None]]:
    """``n`` ranges ``(after, through)`` of sequence numbers over ``low..high``.

    The first is open below and the last open above, so every row a single
    ``ORDER BY sequence_number`` pass would read falls in exactly one range.
    """
    step = max(1, (high - low + 1) // n)
    cuts = [low - 1 + step * i for i in range(1, n) if low - 1 + step * i < high]
    edges: list[int | None] = [None, *cuts, None]
    return list(zip(edges[:-1], edges[1:], strict=False))


def _where(after: int | None, through: int | None, mark: str) -> tuple[str, list[int]]:
    sql, args = "", []
    if after is not None:
        sql += f" AND sequence_number > {mark}"
        args.append(after)
    if through is not None:
        sql += f" AND sequence_number <= {mark}"
        args.append(through)
    return sql, args


# -- SQLite ------------------------------------------------------------------


def _native(name: str) -> Callable[..., Any] | None:
    try:
        from store import _verify_native
    except ImportError:  # built without a C compiler, OpenSSL's or SQLite's headers
        return None
    fn: Callable[..., Any] = getattr(_verify_native, name)
    return fn


native_verify = _native("verify")
_native_copy = _native("verify_copy")


def _uri(path: str) -> str:
    return f"file:{path}?mode=ro"


def _sqlite_connect(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(_uri(path), uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc


def _sqlite_feed(
    conn: sqlite3.Connection,
    feed: Callable[[list[Any]], bool],
    session_id: str,
    after: int | None,
    through: int | None,
    page: int,
) -> None:
    where, bounds = _where(after, through, "?")
    try:
        cur = conn.execute(
            f"SELECT {_COLS} FROM session_log_entries WHERE session_id = ?{where}"
            " ORDER BY sequence_number",
            (session_id, *bounds),
        )
        while rows := cur.fetchmany(page):
            if not feed(rows):
                break
    except sqlite3.OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"database error: {exc}") from exc


def sqlite_part(
    path: str, session_id: str, after: int | None, through: int | None, page: int = PAGE
) -> ChainPart:
    """One range of the log, verified from its first row (in a worker process)."""
    part = PartVerifier(session_id)
    if native_verify is not None and session_id.isascii():
        count, expected, head, last, first, done = native_verify(
            _uri(path), session_id, after, through, None, None
        )
        if count:
            part.verified((session_id, *first), count, expected, head)
            after = last
        if done:
            return part.part()
    conn = _sqlite_connect(path)
    try:
        _sqlite_feed(conn, part.feed_rows, session_id, after, through, page)
    finally:
        conn.close()
    return part.part()


def verify_sqlite(
    path: str,
    session_id: str,
    page: int = PAGE,
    workers: int | None = None,
    parallel_min: int = PARALLEL_MIN,
) -> VerifyResult:
    """On the calling thread (which waits for the workers on a long log)."""
    workers = default_workers() if workers is None else workers
    conn = _sqlite_connect(path)
    try:
        if workers > 1:
            try:
                low, high = conn.execute(
                    "SELECT min(sequence_number), max(sequence_number)"
                    " FROM session_log_entries WHERE session_id = ?",
                    (session_id,),
                ).fetchone()
            except sqlite3.Error as exc:
                raise Unavailable(f"database unavailable: {exc}") from exc
            if type(low) is int and type(high) is int and high - low >= parallel_min:
                conn.close()
                ranges = split(low, high, workers)
                if native_verify is not None and session_id.isascii():
                    # The C reader releases the GIL: threads read the ranges side by
                    # side, with no process hop and nothing pickled.
                    with ThreadPoolExecutor(len(ranges), "courtroom-verify") as threads:
                        futures = [
                            threads.submit(sqlite_part, path, session_id, a, b, page)
                            for a, b in ranges
                        ]
                        return join_parts(session_id, [f.result() for f in futures])
                pool = _executor(workers)
                futures = [
                    pool.submit(sqlite_part, path, session_id, a, b, page) for a, b in ranges
                ]
                return join_parts(session_id, [f.result() for f in futures])
        verifier = ChainVerifier(session_id)
        after: int | None = None
        if native_verify is not None and session_id.isascii():
            count, expected, head, after, _, done = native_verify(
                _uri(path), session_id, None, None, 1, GENESIS_HASH
            )
            verifier.verified(count, expected, head)
            if done:
                return verifier.result()
        _sqlite_feed(conn, verifier.feed_rows, session_id, after, None, page)
        return verifier.result()
    finally:
        conn.close()


# -- PostgreSQL ----------------------------------------------------------------


def _pg_errors() -> tuple[tuple[type[BaseException], ...], type[BaseException]]:
    import asyncpg

    return (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError), asyncpg.PostgresError


async def _pg_feed(
    conn: Any,
    feed: Callable[[list[Any]], Awaitable[bool]],
    session_id: str,
    after: int | None,
    through: int | None,
    page: int,
) -> None:
    """Keyset pages of ``page`` rows; the next page is read while ``feed`` hashes this one."""
    upper = " AND sequence_number <= $3" if through is not None else ""
    stmt = await conn.prepare(
        f"SELECT {_COLS} FROM session_log_entries WHERE session_id = $1 AND sequence_number > $2"
        f"{upper} ORDER BY sequence_number LIMIT {int(page)}"
    )
    extra = [] if through is None else [through]
    # Below every sequence number: the first page is the range's (or the log's) start.
    nxt = -(2**63) if after is None else after
    hashing: asyncio.Future[bool] | None = None
    while True:
        rows: list[Any] = await stmt.fetch(session_id, nxt, *extra)
        if hashing is not None and not await hashing:
            return
        if not rows:
            return
        hashing = asyncio.ensure_future(feed(rows))
        if len(rows) < page:
            await hashing
            return
        nxt = rows[-1][1]


async def _pg_copy(
    conn: Any,
    session_id: str,
    after: int | None,
    through: int | None,
    expected: int | None,
    prev: str | None,
    page: int,
) -> tuple[int, Any, Any, int | None, Any, bool]:
    """The C reader over COPY text, a page at a time, the next page read while
    this one is checked (``verify_copy`` releases the GIL): ``(count, expected,
    previous hash, last sequence, first row's link, done)`` as ``native_verify``."""
    assert _native_copy is not None
    upper = " AND sequence_number <= $3" if through is not None else ""
    query = (
        f"SELECT {_COLS} FROM session_log_entries WHERE session_id = $1"
        f" AND sequence_number > $2{upper} ORDER BY sequence_number LIMIT {int(page)}"
    )
    extra = [] if through is None else [through]
    total, last, first = 0, after, None
    key = -(2**63) if after is None else after
    checking: asyncio.Future[Any] | None = None

    async def read(key: int) -> bytes:
        chunks: list[bytes] = []

        async def out(chunk: bytes) -> None:
            chunks.append(chunk)

        await conn.copy_from_query(query, session_id, key, *extra, output=out)
        return b"".join(chunks)

    while True:
        data = await read(key)
        if checking is not None:
            count, expected, prev, last, got, whole = await checking
            total, first = total + count, first or got
            if not whole:
                return total, expected, prev, last, first, False
        if not data:
            return total, expected, prev, last, first, True
        checking = asyncio.ensure_future(
            asyncio.to_thread(_native_copy, data, session_id, expected, prev)
        )
        if data.count(b"\n") < page:
            count, expected, prev, last, got, whole = await checking
            return total + count, expected, prev, last, first or got, whole
        # the page's last row's sequence number: where the next page starts
        key = int(data[data.rfind(b"\n", 0, len(data) - 1) + 1 :].split(b"\t", 2)[1])


async def _pg_connect(dsn: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc


async def _pg_part(
    dsn: str, session_id: str, after: int | None, through: int | None, page: int
) -> ChainPart:
    down, error = _pg_errors()
    part = PartVerifier(session_id)

    async def feed(rows: list[Any]) -> bool:
        return part.feed_rows(rows)

    conn = await _pg_connect(dsn)
    try:
        if _native_copy is not None and session_id.isascii():
            count, expected, head, last, first, done = await _pg_copy(
                conn, session_id, after, through, None, None, page
            )
            if count:
                part.verified((session_id, *first), count, expected, head)
                after = last
            if done:
                return part.part()
        await _pg_feed(conn, feed, session_id, after, through, page)
    except down as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except error as exc:
        raise StoreError(f"database error: {exc}") from exc
    finally:
        await conn.close()
    return part.part()


def pg_part(
    dsn: str, session_id: str, after: int | None, through: int | None, page: int = PAGE
) -> ChainPart:
    """One range of the log over a connection of its own (in a worker process)."""
    return asyncio.run(_pg_part(dsn, session_id, after, through, page))


async def verify_pg(
    dsn: str,
    session_id: str,
    page: int = PAGE,
    workers: int | None = None,
    parallel_min: int = PARALLEL_MIN,
) -> VerifyResult:
    workers = default_workers() if workers is None else workers
    down, error = _pg_errors()
    conn = await _pg_connect(dsn)
    try:
        if workers > 1:
            low, high = await conn.fetchrow(
                "SELECT min(sequence_number), max(sequence_number)"
                " FROM session_log_entries WHERE session_id = $1",
                session_id,
            )
            if low is not None and high is not None and high - low >= parallel_min:
                await conn.close()
                ranges = split(low, high, workers)
                if _native_copy is not None and session_id.isascii():
                    # The C reader releases the GIL: the ranges run here, each over a
                    # connection of its own, their pages checked on threads side by side.
                    parts = await asyncio.gather(
                        *(_pg_part(dsn, session_id, a, b, page) for a, b in ranges)
                    )
                    return join_parts(session_id, parts)
                pool = _executor(workers)
                loop = asyncio.get_running_loop()
                parts = await asyncio.gather(
                    *(
                        loop.run_in_executor(pool, pg_part, dsn, session_id, a, b, page)
                        for a, b in ranges
                    )
                )
                return join_parts(session_id, parts)
        verifier = ChainVerifier(session_id)

        async def feed(rows: list[Any]) -> bool:
            return await asyncio.to_thread(verifier.feed_rows, rows)

        after: int | None = None
        if _native_copy is not None and session_id.isascii():
            count, expected, head, after, _, done = await _pg_copy(
                conn, session_id, None, None, 1, GENESIS_HASH, page
            )
            verifier.verified(count, expected, head)
            if done:
                return verifier.result()
        await _pg_feed(conn, feed, session_id, after, None, page)
        return verifier.result()
    except down as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except error as exc:
        raise StoreError(f"database error: {exc}") from exc
    finally:
        if not conn.is_closed():
            await conn.close()
