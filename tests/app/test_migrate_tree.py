"""Migration 0006: the Merkle tree's size and edge move from ``merkle_trees`` into the session row.

On both databases, with a tree written by the writer at 0005's shape and back:
downgrading writes the old table's hex text, upgrading reads it into the row,
and the writer grows the migrated tree on from there.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import RecordStore, SessionStore, migrate
from store._engine import create_engine
from store._migrate import downgrade
from tests.app.test_record_writer import assert_tree_is_the_logs

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def test_0006_moves_each_tree_into_its_session_row_and_back(own_db: str) -> None:
    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    sid = (await court.create_session(JUDGE)).entries[0].session_id
    for i in range(20):
        await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
    before = await RecordStore(store).tree(sid)
    assert before.size == 21 and len(before.edge) == 3 * 32  # 21 = 16 + 4 + 1: three hashes
    await store.close()

    await downgrade(own_db, "0005")
    engine = create_engine(own_db)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT session_id, size, frontier FROM merkle_trees"))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [(sid, 21, ",".join(h.hex() for h in before.frontier))]

    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    try:
        assert await RecordStore(store).tree(sid) == before
        done = await court.execute(sid, c.LogCustom("NOTE", {"i": "after"}), JUDGE)
        assert done.tree == before  # grown by the writer from the migrated edge
        await assert_tree_is_the_logs(store, sid)
    finally:
        await store.close()
