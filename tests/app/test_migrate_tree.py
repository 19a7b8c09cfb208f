"""Migration 0006: the Merkle tree's size and edge move from ``merkle_trees`` into the session row.

On both databases, with a tree written by the writer, down to 0005's shape and
back: each direction keeps the tree up to its last whole block, the record
keeper catches up the rest from the log, and the writer grows it on from there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from server.common.signing import Keyring
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.record import RecordKeeper
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import RecordStore, SessionStore, TreeState, migrate
from store._engine import create_engine
from store._migrate import alembic_config
from tests.app.test_record_writer import assert_tree_is_the_logs
from tests.conftest import scratch_database

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: it is downgraded and upgraded."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'courtroom.db'}"
    else:
        with scratch_database() as url:
            yield url


async def downgrade(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
    finally:
        await engine.dispose()


async def test_0006_moves_each_tree_into_its_session_row_and_back(own_db: str) -> None:
    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    sid = (await court.create_session(JUDGE)).entries[0].session_id
    for i in range(20):
        await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
    before = await RecordStore(store).tree(sid)
    upper, leaves = before.parts()
    # 21 = 16 + 5: one subtree of level 4, then the unfinished block's five leaves.
    assert before.size == 21 and len(upper) == 1 and len(leaves) == 5
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
    # 0005's form, up to the last whole block: RFC 6962's frontier of 16 leaves.
    assert [tuple(r) for r in rows] == [(sid, 16, upper[0].hex())]

    await migrate(own_db)
    store = SessionStore(own_db)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    records = RecordStore(store)
    keeper = RecordKeeper(store, records, Keyring("c", Ed25519PrivateKey.generate(), []), clock)
    court.on_commit(keeper.hook)
    try:
        assert await records.tree(sid) == TreeState(16, upper[0])
        await keeper.start()  # catches up the last block's five entries from the log
        await keeper.idle()
        assert await records.tree(sid) == before
        done = await court.execute(sid, c.LogCustom("NOTE", {"i": "after"}), JUDGE)
        assert done.tree == before  # grown by the writer from there
        await assert_tree_is_the_logs(store, sid)
    finally:
        await keeper.close()
        await store.close()
