"""A SQLite log verified by the C reader (store/_verify_native.c) against the Python reader.

The C reader verifies the longest run of rows it accepts and hands the rest to
the Python reader, so whatever a database holds (a column of another type,
text that is not UTF-8, a broken link) the result, or the exception, must be
the one the Python reader alone gives: in one pass, and in ranges (threads
with the C reader, processes without it). On valid logs over any text it must
do the whole log itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical, join_parts
from protocol.errors import Unavailable
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, _verify as V, migrate
from store._sessions import _dsn
from tests.unit.native_helpers import built, grown_bytes

_NEEDS = "a C compiler and the headers of OpenSSL and SQLite, libssl-dev and libsqlite3-dev,"

JUDGE = Actor("1", "JUDGE", "Judge")
ENTRIES = 40
TEXTS = [
    "caf\u00e9 \U0001f600",
    'quote " back \\ slash',
    "\x01\x1f\x7f \n\r\t\b\f\v",  # every escape of JSON and of COPY; no NUL: PostgreSQL refuses it
    "\u20ac" * 50,
]


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    yield
    V.shutdown_pool()


@pytest.fixture
def native() -> Callable[..., Any]:
    return built(V.native_verify, "store._verify_native", needs=_NEEDS)


def _clock() -> int:
    return time.time_ns() // 1_000_000


async def _log(url: str) -> str:
    await migrate(url)
    store = SessionStore(url)
    try:
        court = Courtroom(store, MemoryBroker(), _clock, RulesConfig())
        sid = (await court.create_session(JUDGE, title="native")).entries[0].session_id
        for i in range(ENTRIES - 1):
            await court.execute(sid, c.LogCustom("NOTE", {"i": i, "t": TEXTS[i % 4]}), JUDGE)
        return sid
    finally:
        await store.close()


@pytest.fixture
def log(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "log.db"
    return str(path), asyncio.run(_log(f"sqlite+aiosqlite:///{path}"))


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # the same exception type from both readers
        return type(exc)


def _python(fn: Callable[[], Any]) -> Any:
    native, V.native_verify = V.native_verify, None
    try:
        return _outcome(fn)
    finally:
        V.native_verify = native


def _judged_alike(path: str, sid: str) -> Any:
    for workers in (1, 3):

        def run(workers: int = workers) -> Any:
            return V.verify_sqlite(path, sid, workers=workers, parallel_min=0)

        want = _python(run)
        assert _outcome(run) == want, workers
    return want


def test_a_valid_log_over_any_text_is_read_by_c_alone(
    native: Callable[..., Any], log: tuple[str, str]
) -> None:
    path, sid = log
    count, expected, head, last, first, done = native(
        V._uri(path), sid, None, None, 1, GENESIS_HASH
    )
    assert (count, expected, last, first, done) == (ENTRIES, ENTRIES + 1, ENTRIES, None, True)
    result = _judged_alike(path, sid)
    assert result.valid and result.entries == ENTRIES and result.head_hash == head
    # A range starts from its own first row's link.
    count, _, _, last, first, done = native(V._uri(path), sid, 10, 20, None, None)
    assert (count, last, first[0], done) == (10, 20, 11, True)


# What is done to row 12 (SQL run on the file), each a kind of damage the C reader
# must hand to the Python reader (or judge as it does).
DAMAGE = {
    "details edited": "UPDATE session_log_entries SET details = '{\"i\": -1}'",
    "hash in upper case": "UPDATE session_log_entries SET hash_chain = upper(hash_chain)",
    "link broken": "UPDATE session_log_entries SET previous_hash = hex(randomblob(32))",
    "hash non-ASCII": "UPDATE session_log_entries SET hash_chain = 'é' || substr(hash_chain, 2)",
    "hash a blob": "UPDATE session_log_entries SET hash_chain = CAST(hash_chain AS BLOB)",
    "details a blob": "UPDATE session_log_entries SET details = CAST(details AS BLOB)",
    "details overlong UTF-8": "UPDATE session_log_entries SET details = CAST(X'7BC0807D' AS TEXT)",
    "details a surrogate": "UPDATE session_log_entries SET details = CAST(X'7BEDA0807D' AS TEXT)",
    "details beyond U+10FFFF": "UPDATE session_log_entries SET details = CAST(X'F4908080' AS TEXT)",
    "details cut in a character": "UPDATE session_log_entries SET details = CAST(X'E282' AS TEXT)",
    "actor a number": "UPDATE session_log_entries SET actor_id = 7",
    "actor a blob": "UPDATE session_log_entries SET actor_id = X'31'",
    "actor null": "UPDATE session_log_entries SET actor_id = NULL",
    "timestamp with a NUL": "UPDATE session_log_entries SET \"timestamp\" = 'a' || char(0) || 'b'",
    "sequence a real": "UPDATE session_log_entries SET sequence_number = 12.5",
    "sequence text": "UPDATE session_log_entries SET sequence_number = 'twelve'",
    "row deleted": "DELETE FROM session_log_entries",
    "row swapped": "UPDATE session_log_entries SET sequence_number = 1000",
    "event type a number": "UPDATE session_log_entries SET event_type = 5",
}


@pytest.mark.parametrize("sql", DAMAGE.values(), ids=DAMAGE.keys())
def test_any_damage_is_judged_as_the_python_reader_judges_it(
    native: Callable[..., Any], log: tuple[str, str], sql: str
) -> None:
    path, sid = log
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute(f"{sql} WHERE session_id = ? AND sequence_number = 12", (sid,))
    count, *_ = native(V._uri(path), sid, None, None, 1, GENESIS_HASH)
    assert count == 11  # the rows before it, verified in C
    result = _judged_alike(path, sid)
    assert result is not None


def test_a_missing_database_is_the_same_error(native: Callable[..., Any], tmp_path: Path) -> None:
    assert native(V._uri(str(tmp_path / "none.db")), "s", None, None, 1, GENESIS_HASH)[0] == 0
    assert _judged_alike(str(tmp_path / "none.db"), "s") is Unavailable


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(st.tuples(_text, _text, st.one_of(st.none(), _text)), min_size=1, max_size=8))
def test_any_text_is_quoted_by_c_as_by_python(
    native: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory, texts: list[Any]
) -> None:
    """Rows written with the bare driver, hashed by the Python: the C reader takes them all."""
    path = tmp_path_factory.mktemp("text") / "t.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    sid, prev, rows = "s-1", GENESIS_HASH, []
    for seq, (ts, event, actor) in enumerate(texts, start=1):
        details = canonical_details({"t": ts + event})
        h = entry_hash_canonical(sid, seq, ts, event, actor, details, prev)
        rows.append((sid, seq, ts, event, actor, details, prev, h, ts))
        prev = h
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        db.executemany("INSERT INTO session_log_entries VALUES (?,?,?,?,?,?,?,?,?)", rows)
    count, _, head, _, _, done = native(V._uri(str(path)), sid, None, None, 1, GENESIS_HASH)
    assert (count, head, done) == (len(rows), prev, True)


# Bytes that are not UTF-8, and what a lax decoder would read them as.
LAX = {
    "a surrogate": (b"\xed\xa0\x80", "\ud800"),
    "an overlong NUL": (b"\xc0\x80", "\x00"),
}


@pytest.mark.parametrize(("raw", "lax"), LAX.values(), ids=LAX.keys())
def test_a_hash_forged_over_a_lax_reading_of_bad_utf8_is_not_accepted(
    native: Callable[..., Any], tmp_path: Path, raw: bytes, lax: str
) -> None:
    """The row's hash is right for what a lax decoder reads: the C reader must not take it,
    as the Python reader (which cannot decode the text) does not."""
    path = tmp_path / "lax.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    sid, ts = "s-1", "2026-12-07T10:00:00.000000+00:00"
    h = entry_hash_canonical(sid, 1, ts, "NOTE", None, '{"t": "' + lax + '"}', GENESIS_HASH)
    details = b'{"t": "' + raw + b'"}'
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute(
            "INSERT INTO session_log_entries VALUES (?, 1, ?, 'NOTE', NULL,"
            " CAST(? AS TEXT), ?, ?, ?)",
            (sid, ts, details, GENESIS_HASH, h, ts),
        )
    assert native(V._uri(str(path)), sid, None, None, 1, GENESIS_HASH)[0] == 0
    assert _judged_alike(str(path), sid) is Unavailable


# -- PostgreSQL: COPY text read by the C reader, a page at a time -------------

PG_DAMAGE = {
    "details edited": "UPDATE session_log_entries SET details = '{\"i\": -1}'",
    "hash in upper case": "UPDATE session_log_entries SET hash_chain = upper(hash_chain)",
    "link broken": "UPDATE session_log_entries SET previous_hash = md5('a') || md5('b')",
    "hash non-ASCII": "UPDATE session_log_entries SET hash_chain = 'é' || substr(hash_chain, 2)",
    "actor null": "UPDATE session_log_entries SET actor_id = NULL",
    "a raw control character": "UPDATE session_log_entries SET details = E'{\\x01}'",
    "row deleted": "DELETE FROM session_log_entries",
    "row moved": "UPDATE session_log_entries SET sequence_number = 1000",
}


@pytest.fixture
def copy_native() -> Callable[..., Any]:
    return built(V._native_copy, "store._verify_native", needs=_NEEDS)


async def _pg_outcome(fn: Callable[[], Any]) -> Any:
    try:
        return await fn()
    except Exception as exc:  # the same exception type from both readers
        return type(exc)


async def _pg_alike(dsn: str, sid: str) -> Any:
    """One pass (pages of 7 and of the default) and ranges in this process: the C
    reader's result is the Python reader's; the public ranges path agrees too."""

    async def one(page: int) -> Any:
        return await V.verify_pg(dsn, sid, page=page, workers=1)

    async def ranges() -> Any:
        parts = [await V._pg_part(dsn, sid, a, b, 5) for a, b in V.split(1, ENTRIES, 3)]
        return join_parts(sid, parts)

    want: Any = None
    for fn in (lambda: one(7), lambda: one(V.PAGE), ranges):
        native, V._native_copy = V._native_copy, None
        try:
            want = await _pg_outcome(fn)
        finally:
            V._native_copy = native
        assert await _pg_outcome(fn) == want
    public = await _pg_outcome(lambda: V.verify_pg(dsn, sid, workers=3, parallel_min=0))
    assert public == want
    return want


@pytest.mark.postgres
async def test_a_valid_pg_log_is_read_by_c_alone(
    copy_native: Callable[..., Any], pg_migrated: str
) -> None:
    import asyncpg

    sid = await _log(pg_migrated)
    dsn = _dsn(pg_migrated)
    conn = await asyncpg.connect(dsn)
    try:
        for page in (7, 40, V.PAGE):
            count, expected, head, last, first, done = await V._pg_copy(
                conn, sid, None, None, 1, GENESIS_HASH, page
            )
            assert (count, expected, last, first, done) == (
                ENTRIES,
                ENTRIES + 1,
                ENTRIES,
                None,
                True,
            )
        count, _, _, last, first, done = await V._pg_copy(conn, sid, 10, 20, None, None, 4)
        assert (count, last, first[0], done) == (10, 20, 11, True)
    finally:
        await conn.close()
    result = await _pg_alike(dsn, sid)
    assert result.valid and result.entries == ENTRIES and result.head_hash == head


@pytest.mark.postgres
@pytest.mark.parametrize("sql", PG_DAMAGE.values(), ids=PG_DAMAGE.keys())
async def test_any_pg_damage_is_judged_as_the_python_reader_judges_it(
    copy_native: Callable[..., Any], pg_migrated: str, sql: str
) -> None:
    import asyncpg

    sid = await _log(pg_migrated)
    dsn = _dsn(pg_migrated)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")  # no foreign keys
        await conn.execute(f"{sql} WHERE session_id = $1 AND sequence_number = 12", sid)
        count, *_ = await V._pg_copy(conn, sid, None, None, 1, GENESIS_HASH, 5)
        assert count == 11  # the rows before it, verified in C
    finally:
        await conn.close()
    result = await _pg_alike(dsn, sid)
    # a gap is found at the row after it, as always (tests/app/test_verify_ranges.py)
    gap = sql.startswith("DELETE") or "sequence_number" in sql
    assert not result.valid and result.first_invalid_sequence == (13 if gap else 12)


def test_the_readers_leave_no_memory_behind(
    native: Callable[..., Any], copy_native: Callable[..., Any], log: tuple[str, str]
) -> None:
    """Every reference and buffer the C code takes is given back, on success and on a stop."""
    path, sid = log
    rows = [(sid, 1, "t", "NOTE", None, "{}", GENESIS_HASH)]
    h = entry_hash_canonical(*rows[0])
    copy = "\t".join([sid, "1", "t", "NOTE", "\\N", "{}", GENESIS_HASH, h]).encode() + b"\n"

    def round_() -> None:
        for _ in range(10):
            native(V._uri(path), sid, None, None, 1, GENESIS_HASH)
            native(V._uri(path), sid, 5, 9, None, None)
            assert copy_native(copy, sid, 1, GENESIS_HASH)[0] == 1
            assert copy_native(copy + b"x\n", sid, None, None)[5] is False
            with pytest.raises(TypeError):
                copy_native("not bytes", sid, 1, GENESIS_HASH)

    grown = grown_bytes(round_, rounds=20)
    # 20 rounds of 50 calls: one leaked tuple or str a call would be > 50 kB.
    assert grown < 20_000, grown
