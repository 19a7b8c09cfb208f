"""SQLite's writer remembers the session rows it committed (``store/_writer_sqlite.py``).

A batch takes the rows of the sessions it knows from memory instead of reading
them again; anything another connection commits (``PRAGMA data_version``) or
a batch that fails makes it read them again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from protocol.errors import Conflict
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate
from store._writer_sqlite import SqliteBackend

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def _court(url: str) -> tuple[Courtroom, SqliteBackend]:
    await migrate(url)
    ct = Courtroom(SessionStore(url), MemoryBroker(), clock, RulesConfig())
    backend = ct.store.writer._backend
    assert isinstance(backend, SqliteBackend)
    return ct, backend


@contextmanager
def _statements(backend: SqliteBackend) -> Iterator[list[str]]:
    """The statements the writer's connection runs meanwhile."""
    conn = backend._connect()
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def _reads_of_sessions(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and "FROM courtroom_sessions" in s]


def _head_and_tree(url: str, sid: str) -> tuple[int, int]:
    with sqlite3.connect(url.split("///", 1)[1]) as conn:
        row = conn.execute(
            "SELECT head_seq, tree_size FROM courtroom_sessions WHERE id = ?", (sid,)
        ).fetchone()
    return int(row[0]), int(row[1])


async def test_a_batch_reads_only_the_sessions_it_does_not_remember(sqlite_url: str) -> None:
    ct, backend = await _court(sqlite_url)
    try:
        known = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(known, c.LogCustom("NOTE", {"i": 0}), JUDGE)
        # Another store's session: this writer never wrote it, so it must read it.
        other = SessionStore(sqlite_url)
        unknown = (
            (await Courtroom(other, MemoryBroker(), clock, RulesConfig()).create_session(JUDGE))
            .entries[0]
            .session_id
        )
        await other.close()
        # Another connection committed (that store): this batch reads its rows again.
        await ct.execute(known, c.LogCustom("NOTE", {"i": 1}), JUDGE)

        with _statements(backend) as run:
            await ct.execute(known, c.LogCustom("NOTE", {"i": 2}), JUDGE)
        assert _reads_of_sessions(run) == []  # taken from memory

        with _statements(backend) as run:
            await ct.execute(unknown, c.LogCustom("NOTE", {"i": 0}), JUDGE)
        assert len(_reads_of_sessions(run)) == 1
        assert (await ct.store.verify(known)).entries == 4
        assert (await ct.store.verify(unknown)).entries == 2
    finally:
        await ct.store.close()


async def test_a_row_another_connection_changed_is_read_again(sqlite_url: str) -> None:
    """The other connection sets the session's tree behind its log: the writer must see it.

    Had it trusted the row it remembered (tree at the head), it would grow the
    tree from there and store it as reaching the new head.
    """
    ct, backend = await _court(sqlite_url)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 0}), JUDGE)
        assert _head_and_tree(sqlite_url, sid) == (2, 2)
        assert backend.rows.get(sid) is not None
        with sqlite3.connect(sqlite_url.split("///", 1)[1]) as other:
            other.execute(
                "UPDATE courtroom_sessions SET tree_size = 0, tree_frontier = X'' WHERE id = ?",
                (sid,),
            )
        with _statements(backend) as run:
            await ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE)
        assert len(_reads_of_sessions(run)) == 1
        assert _head_and_tree(sqlite_url, sid) == (3, 0)  # left behind, for the keeper to catch up
        assert (await ct.store.verify(sid)).entries == 3
    finally:
        await ct.store.close()


async def test_a_failed_batch_forgets_the_rows_it_changed(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose write fails after planning leaves its rows changed in memory, not in
    the database: the next batch must start from the stored rows.
    """
    import store._writer_sqlite as ws

    ct, backend = await _court(sqlite_url)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 0}), JUDGE)
        drive = ws._drive

        def fail(conn: sqlite3.Connection, steps: Any) -> list[Any]:
            drive(conn, steps)  # every statement ran, and the rows moved on
            raise sqlite3.IntegrityError("refused")

        monkeypatch.setattr(ws, "_drive", fail)
        with pytest.raises(Conflict, match="refused"):
            await ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE)
        monkeypatch.setattr(ws, "_drive", drive)
        committed = await ct.execute(sid, c.LogCustom("NOTE", {"i": 2}), JUDGE)
        assert committed.entries[0].sequence_number == 3  # not 4, after a head never stored
        v = await ct.store.verify(sid)
        assert v.valid and v.entries == 3
        assert _head_and_tree(sqlite_url, sid) == (3, 3)
    finally:
        await ct.store.close()
