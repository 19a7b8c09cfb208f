"""Migrations 0007 and 0008: ``courtroom_sessions`` laid out for its per-append update.

0007 rebuilds the table with the per-append columns last; 0008 leaves room on
each page for the rows' next versions (fillfactor).

On PostgreSQL the table is rebuilt (down to 0006's order and up again) with a
session in it: the rows, the constraints, the indexes and the foreign keys
that refer to it come back as they were, the columns in the order each
revision promises, and the writer goes on appending to the session's chain and
tree. On SQLite the migration does nothing, and the round trip keeps the data.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import ClusterStore, RecordStore, SessionStore, migrate
from store._engine import create_engine
from store._migrate import downgrade
from tests.app.test_record_writer import assert_tree_is_the_logs

JUDGE = Actor("1", "JUDGE", "Judge")
PER_APPEND = ["head_seq", "head_hash", "tree_size", "tree_frontier"]
ORDER_0006 = [
    *("id", "assignment_id", "status", "title", "started_at", "ended_at", "recording_url"),
    *("metadata", "integrity_hash", "created_at", "created_by", "head_seq", "head_hash"),
    *("state", "next_action_ms", "timer_owner", "timer_fence", "timer_lease_until"),
    *("tree_size", "tree_frontier"),
]


def clock() -> int:
    return time.time_ns() // 1_000_000


async def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def _columns(url: str) -> list[str]:
    return [
        r[0]
        for r in await _query(
            url,
            "SELECT attname FROM pg_attribute WHERE attrelid = 'courtroom_sessions'::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        )
    ]


async def _catalog(url: str) -> set[tuple[Any, ...]]:
    """The table's columns (all but their position), its constraints, the foreign
    keys to it and its indexes, as definitions."""
    return set(
        await _query(
            url,
            "SELECT attname::text, format_type(atttypid, atttypmod),"
            " concat_ws(' ', attnotnull, attcompression, attstorage, attcollation,"
            " pg_get_expr(adbin, adrelid)) FROM pg_attribute"
            " LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum"
            " WHERE attrelid = 'courtroom_sessions'::regclass AND attnum > 0 AND NOT attisdropped"
            " UNION ALL"
            " SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'courtroom_sessions'::regclass"
            " OR confrelid = 'courtroom_sessions'::regclass"
            " UNION ALL SELECT indexname, tablename, indexdef FROM pg_indexes"
            " WHERE tablename = 'courtroom_sessions'",
        )
    )


async def test_0007_rebuilds_the_session_table_in_write_order_and_back(own_db: str) -> None:
    pg = own_db.startswith("postgresql")
    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig(), node_id="node-a")
    sid = (await court.create_session(JUDGE, assignment_id="match-1")).entries[0].session_id
    for i in range(20):
        await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
    await ClusterStore(store).add_connection(
        connection_id="00000000-0000-4000-8000-000000000001",
        session_id=sid,
        node="node-a",
        kind="observer",
        user_id=None,
        observation_id=None,
        now=clock(),
    )
    tree = await RecordStore(store).tree(sid)
    row = await store.row(sid)
    await store.close()
    if pg:
        catalog = await _catalog(own_db)
        # 20 columns; pk, unique, check; 4 foreign keys; 5 indexes (2 for pk, unique)
        assert len(catalog) == 32
        # ``state``'s TOAST compression (lz4 where the server has it, migration 0005)
        # is in the catalog compared below: the rebuild must carry it over.
        (state,) = [r for r in catalog if r[0] == "state"]
        assert state[2].startswith("t ")  # NOT NULL
        columns = await _columns(own_db)
        assert columns[-4:] == PER_APPEND and sorted(columns) == sorted(ORDER_0006)

    await downgrade(own_db, "0006")
    if pg:
        assert await _columns(own_db) == ORDER_0006
        assert await _catalog(own_db) == catalog
    await migrate(own_db)
    if pg:
        assert await _columns(own_db) == columns
        assert await _catalog(own_db) == catalog

    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig(), node_id="node-a")
    try:
        assert await store.row(sid) == row
        assert await RecordStore(store).tree(sid) == tree
        assert await ClusterStore(store).observers(sid) == 1
        done = await court.execute(sid, c.LogCustom("NOTE", {"i": "after"}), JUDGE)
        assert done.tree == tree and done.head.sequence_number == 22
        await assert_tree_is_the_logs(store, sid)
        assert (await store.verify(sid)).valid
        if pg:  # the foreign keys hold on the rebuilt table
            engine = create_engine(own_db)
            try:
                with pytest.raises(IntegrityError):
                    async with engine.begin() as conn:
                        await conn.execute(
                            text(
                                "INSERT INTO live_connections (id, session_id, node_id, kind,"
                                " connected_at_ms) VALUES ('00000000-0000-4000-8000-000000000002',"
                                " 'no-such-session', 'node-a', 'observer', 1)"
                            )
                        )
            finally:
                await engine.dispose()
    finally:
        await store.close()


async def _reloptions(url: str) -> Any:
    rows = await _query(url, "SELECT reloptions FROM pg_class WHERE relname = 'courtroom_sessions'")
    return rows[0][0]


async def test_0008_leaves_half_of_each_page_for_updates_and_back(own_db: str) -> None:
    pg = own_db.startswith("postgresql")
    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    sid = (await court.create_session(JUDGE)).entries[0].session_id
    await store.close()
    if pg:
        assert await _reloptions(own_db) == ["fillfactor=50"]
    await downgrade(own_db, "0007")
    if pg:
        assert await _reloptions(own_db) is None
    await migrate(own_db)
    if pg:
        assert await _reloptions(own_db) == ["fillfactor=50"]
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    try:
        done = await court.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        assert done.head.sequence_number == 2 and (await store.verify(sid)).valid
    finally:
        await store.close()
