"""Verify a stored log with the bare driver: the hashed columns only, in large pages.

Verification reads every entry of a session once, so the read path is what
limits it (docs/benchmarks.md): no SQLAlchemy rows, no ``LogEntry`` objects,
just tuples of the eight hashed columns fed to ``ChainVerifier.feed_rows``.
SQLite reads and hashes on a thread of its own (one hop for the whole log);
PostgreSQL reads pages over one asyncpg connection while the previous page is
hashed on a thread, so the event loop is never held for a page.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from protocol import ChainVerifier, VerifyResult
from protocol.errors import StoreError, Unavailable

_COLS = (
    'session_id, sequence_number, "timestamp", event_type, actor_id, details,'
    " previous_hash, hash_chain"
)
PAGE = 50_000


def verify_sqlite(path: str, session_id: str, page: int = PAGE) -> VerifyResult:
    """On the calling thread: read the session's entries in order and verify them."""
    verifier = ChainVerifier(session_id)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    try:
        cur = conn.execute(
            f"SELECT {_COLS}"
            " FROM session_log_entries WHERE session_id = ? ORDER BY sequence_number",
            (session_id,),
        )
        while rows := cur.fetchmany(page):
            if not verifier.feed_rows(rows):
                break
    except sqlite3.OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"database error: {exc}") from exc
    finally:
        conn.close()
    return verifier.result()


async def verify_pg(dsn: str, session_id: str, page: int = PAGE) -> VerifyResult:
    import asyncpg

    verifier = ChainVerifier(session_id)
    sql = (
        f"SELECT {_COLS}"
        " FROM session_log_entries WHERE session_id = $1 AND sequence_number >= $2"
        " ORDER BY sequence_number LIMIT $3"
    )
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    try:
        stmt = await conn.prepare(sql)
        nxt = 1
        hashing: asyncio.Future[bool] | None = None
        while True:
            rows: list[Any] = await stmt.fetch(session_id, nxt, page)
            if hashing is not None and not await hashing:
                break
            if not rows:
                break
            hashing = asyncio.ensure_future(asyncio.to_thread(verifier.feed_rows, rows))
            if len(rows) < page:
                await hashing
                break
            nxt = rows[-1][1] + 1
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"database error: {exc}") from exc
    finally:
        await conn.close()
    return verifier.result()
