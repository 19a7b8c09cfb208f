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

from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical
from protocol.errors import Unavailable
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, _verify as V, migrate
from tests.conftest import unavailable

JUDGE = Actor("1", "JUDGE", "Judge")
ENTRIES = 40
TEXTS = [
    "caf\u00e9 \U0001f600",
    'quote " back \\ slash',
    "\x00\x01\x1f\x7f \n\r\t\b\f",
    "\u20ac" * 50,
]


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    yield
    V.shutdown_pool()


@pytest.fixture
def native() -> Callable[..., Any]:
    if V.native_verify is None:
        unavailable(
            "store._verify_native was not built (a C compiler and the headers of OpenSSL"
            " and SQLite, libssl-dev and libsqlite3-dev, are needed at install time)"
        )
    return V.native_verify


def _clock() -> int:
    return time.time_ns() // 1_000_000


async def _log(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
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
    return str(path), asyncio.run(_log(path))


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
