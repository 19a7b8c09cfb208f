"""The batch writer against real SQLite and PostgreSQL: group commit that loses nothing.

Many sessions' commands share transactions; a command that its rules refuse,
or whose rules crash, fails alone; a write the database refuses fails alone
after its batch is retried job by job; two writers (two nodes) on one session
through the database still make one gap-free chain.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest

from protocol.errors import Conflict, InvalidTransition, NotFound
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import Decision, Head, SessionStore, TxInfo, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def court(url: str) -> Courtroom:
    await migrate(url)
    return Courtroom(SessionStore(url), MemoryBroker(), clock, RulesConfig())


async def test_many_sessions_share_few_transactions(db_url: str) -> None:
    ct = await court(db_url)
    try:
        sids = [(await ct.create_session(JUDGE)).entries[0].session_id for _ in range(16)]
        writer = ct.store.writer
        before = (writer.batches, writer.jobs)

        async def client(sid: str) -> None:
            for i in range(10):
                await ct.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)

        await asyncio.gather(*(client(s) for s in sids))
        batches, jobs = writer.batches - before[0], writer.jobs - before[1]
        assert jobs == 160
        # 16 clients each waiting for their last commit: ~16 commands a batch.
        assert batches <= 40, (batches, jobs)
        for sid in sids:
            entries = await ct.store.entries(sid)
            assert [e.sequence_number for e in entries] == list(range(1, 12))
            assert (await ct.store.verify(sid)).valid
    finally:
        await ct.store.close()


async def test_a_poison_command_fails_alone_in_its_batch(db_url: str) -> None:
    ct = await court(db_url)
    store = ct.store
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        other = (await ct.create_session(JUDGE)).entries[0].session_id

        def poison(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
            raise RuntimeError("the rules crashed")

        batches = store.writer.batches
        results = await asyncio.gather(
            ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE),
            store.execute(sid, poison, now=clock()),
            ct.execute(other, c.Pause(), JUDGE),  # refused: the session is pending
            ct.execute(sid, c.LogCustom("NOTE", {"i": 2}), JUDGE),
            ct.execute(other, c.LogCustom("NOTE", {"i": 3}), JUDGE),
            return_exceptions=True,
        )
        assert store.writer.batches == batches + 1  # all five went in one transaction
        ok1, crashed, refused, ok2, ok3 = results
        assert isinstance(crashed, RuntimeError) and isinstance(refused, InvalidTransition)
        assert [e.sequence_number for e in await store.entries(sid)] == [1, 2, 3]
        assert [e.sequence_number for e in await store.entries(other)] == [1, 2]
        assert (await store.verify(sid)).valid and (await store.verify(other)).valid
    finally:
        await store.close()


async def test_a_write_the_database_refuses_fails_alone(db_url: str) -> None:
    ct = await court(db_url)
    store = ct.store
    try:
        sid = (await ct.create_session(JUDGE, assignment_id="match-1")).entries[0].session_id
        results = await asyncio.gather(
            ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE),
            # The same assignment twice: the UNIQUE constraint refuses the insert.
            ct.create_session(JUDGE, assignment_id="match-1"),
            ct.create_session(JUDGE, assignment_id="match-2"),
            ct.execute(sid, c.LogCustom("NOTE", {"i": 2}), JUDGE),
            return_exceptions=True,
        )
        ok1, dup, created, ok2 = results
        assert isinstance(dup, Conflict)
        assert not isinstance(created, BaseException) and created.head.sequence_number == 1
        assert [e.sequence_number for e in await store.entries(sid)] == [1, 2, 3]
        assert await store.find_by_assignment("match-2") == created.entries[0].session_id
        assert (await store.verify(sid)).valid
    finally:
        await store.close()


async def test_no_entry_without_its_session(db_url: str) -> None:
    """The log has no foreign key (migration 0005): the writer itself refuses orphans."""
    ct = await court(db_url)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {}), JUDGE)  # remembered, on PostgreSQL
        ghost = "00000000-0000-4000-8000-000000000000"
        results = await asyncio.gather(
            ct.execute(ghost, c.LogCustom("NOTE", {}), JUDGE),
            ct.execute(sid, c.LogCustom("NOTE", {}), JUDGE),
            return_exceptions=True,
        )
        assert isinstance(results[0], NotFound) and not isinstance(results[1], BaseException)
        assert await ct.store.entries(ghost) == []
        assert [e.sequence_number for e in await ct.store.entries(sid)] == [1, 2, 3]
    finally:
        await ct.store.close()


@pytest.mark.postgres
async def test_two_writers_on_one_session_through_postgres(pg_migrated: str) -> None:
    a, b = await court(pg_migrated), await court(pg_migrated)
    try:
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        others = [(await a.create_session(JUDGE)).entries[0].session_id for _ in range(3)]

        async def client(ct: Courtroom, k: int) -> None:
            for i in range(25):
                # Each batch also locks other sessions, in id order: no deadlock.
                await asyncio.gather(
                    ct.execute(sid, c.LogCustom("NOTE", {"k": k, "i": i}), JUDGE),
                    ct.execute(others[(k + i) % 3], c.LogCustom("NOTE", {"i": i}), JUDGE),
                )

        await asyncio.gather(*(client(ct, k) for k, ct in enumerate([a, b, a, b])))
        entries = await a.store.entries(sid)
        assert [e.sequence_number for e in entries] == list(range(1, 102))
        assert (await b.store.verify(sid)).valid
        for o in others:
            assert (await b.store.verify(o)).valid
    finally:
        await a.store.close()
        await b.store.close()


async def test_close_writes_what_is_queued(db_url: str) -> None:
    ct = await court(db_url)
    store = ct.store
    sid = (await ct.create_session(JUDGE)).entries[0].session_id
    pending = [
        asyncio.ensure_future(ct.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE))
        for i in range(20)
    ]
    await asyncio.sleep(0)  # queued, not yet written
    await store.close()
    done = await asyncio.gather(*pending)
    assert sorted(d.head.sequence_number for d in done) == list(range(2, 22))
    reopened = SessionStore(db_url)
    try:
        assert len(await reopened.entries(sid)) == 21
    finally:
        await reopened.close()


async def test_sqlite_checkpoints_happen_off_the_writer(sqlite_url: str) -> None:
    from store._writer_sqlite import CHECKPOINT_ROWS, SqliteBackend

    ct = await court(sqlite_url)
    store = ct.store
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        backend = store.writer._backend
        assert isinstance(backend, SqliteBackend)
        for chunk in range(3):
            await asyncio.gather(
                *(
                    ct.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
                    for i in range(chunk * 500, chunk * 500 + 500)
                )
            )
        # Each command writes a few rows (entry, head); the writer never checkpoints
        # itself, so the thread of its own must have.
        for _ in range(100):
            if backend._checkpoints.done >= 1:
                break
            await asyncio.sleep(0.05)
        assert backend._checkpoints.done >= 1, CHECKPOINT_ROWS
        assert (await store.verify(sid)).entries == 1501
    finally:
        await store.close()


async def test_a_checkpoint_that_left_frames_behind_is_finished_so_the_wal_restarts(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that never pauses still gets its WAL restarted.

    SQLite restarts the WAL only at the first commit after a checkpoint that
    copied every frame. Under load the checkpointer's thread copies while new
    frames arrive, so it never copies them all; here a reader's snapshot holds
    it back the same way. The writer then copies the rest between two batches,
    and the next batch starts the WAL afresh (its header's checkpoint counter
    goes up), instead of the file growing without end.
    """
    import store._writer_sqlite as ws

    monkeypatch.setattr(ws, "RESTART_FRAMES", 1)
    ct = await court(sqlite_url)
    store = ct.store
    path = sqlite_url.split("///", 1)[1]
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        backend = store.writer._backend
        assert isinstance(backend, ws.SqliteBackend)
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM session_log_entries").fetchall()  # a snapshot
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 2}), JUDGE)  # frames after it
        checkpoints = backend._checkpoints
        await asyncio.wrap_future(checkpoints._pool.submit(checkpoints._checkpoint))
        assert checkpoints.overdue  # the snapshot kept the last frames from being copied
        reader.execute("COMMIT")
        reader.close()
        restarts = _wal_restarts(path)

        await ct.execute(sid, c.LogCustom("NOTE", {"i": 3}), JUDGE)
        assert not checkpoints.overdue and backend.wal_restarts == 1
        assert _wal_restarts(path) == restarts + 1
        assert (await store.verify(sid)).entries == 4
    finally:
        await store.close()


def _wal_restarts(db_path: str) -> int:
    """The WAL header's checkpoint sequence number: SQLite adds one at each restart."""
    with open(db_path + "-wal", "rb") as f:
        return int.from_bytes(f.read(16)[12:16], "big")


async def test_a_narrow_head_update_keeps_the_rows_other_columns(db_url: str) -> None:
    """A NOTE writes only the head, state and tree; a start writes status and timer too."""
    ct = await court(db_url)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 0}), JUDGE)
        row = await ct.store.row(sid)
        assert (row["status"], row["head_seq"]) == ("pending", 2)
        await ct.execute(sid, c.Start(), JUDGE)
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 1}), JUDGE)
        row = await ct.store.row(sid)
        assert (row["status"], row["head_seq"]) == ("active", 4)
        assert (await ct.store.verify(sid)).valid
    finally:
        await ct.store.close()
