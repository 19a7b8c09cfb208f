"""The Merkle tree grown in the batch writer's transaction (``store/_tree.py``), on both databases.

No record keeper runs in the first tests: whatever tree is stored was written
by the writer, with the entries. Proofs are checked against an RFC 6962 tree
built here from the entries (``MemoryTree``), never against the store's own.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, text, update

from protocol.checkpoint import parse_note, public_key_bytes
from protocol.merkle import (
    CompactRange,
    MemoryTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from server.common.signing import Keyring, PublicKey
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.record import RecordKeeper
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import STORED_LEVEL, Committed, LogEntry, RecordStore, SessionStore, TreeState, migrate
from store._record_schema import merkle_nodes as MN, session_checkpoints as CP
from store._schema import courtroom_sessions as S

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


def memory_tree(entries: list[LogEntry]) -> MemoryTree:
    tree = MemoryTree()
    for e in entries:
        tree.append(leaf_hash(e.hash))
    return tree


def keyring() -> Keyring:
    private = Ed25519PrivateKey.generate()
    public = PublicKey("courtroom", public_key_bytes(private.public_key()), None, None)
    return Keyring("courtroom", private, [public])


async def stored_nodes(store: SessionStore, sid: str) -> dict[tuple[int, int], bytes]:
    async with store.read_engine.connect() as conn:
        rows = await conn.execute(
            select(MN.c.level, MN.c.idx, MN.c.hash).where(MN.c.session_id == sid)
        )
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


async def assert_tree_is_the_logs(store: SessionStore, sid: str) -> MemoryTree:
    entries = await store.entries(sid)
    mem = memory_tree(entries)
    tree = await RecordStore(store).tree(sid)
    assert tree.size == len(entries)
    assert CompactRange(tree.size, tree.frontier).root() == mem.root()
    upper = {
        (lv, i): h
        for lv in range(STORED_LEVEL, len(mem.levels))
        for i, h in enumerate(mem.levels[lv])
    }
    assert await stored_nodes(store, sid) == upper  # every upper node, nothing lower
    return mem


async def test_every_commit_stores_its_tree_with_its_entries(db_url: str) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    commits: list[Committed] = []
    court.on_commit(lambda sid, done: commits.append(done))
    try:
        sids = [(await court.create_session(JUDGE)).entries[0].session_id for _ in range(6)]
        records = RecordStore(store)

        async def client(sid: str, n: int) -> None:
            for i in range(n):
                done = await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
                # Acknowledged means in the tree: no keeper runs here.
                assert (await records.tree(sid)).size == done.head.sequence_number

        # Concurrent clients: the writer's batches hold several sessions and commands.
        await asyncio.gather(*(client(sid, 20 + 7 * k) for k, sid in enumerate(sids)))
        mems = {sid: await assert_tree_is_the_logs(store, sid) for sid in sids}
        # Each commit carries its session's tree just before its entries.
        assert all(done.tree is not None for done in commits)
        for done in commits:
            assert done.tree is not None
            first = done.entries[0]
            before = TreeState(*done.tree)
            assert before.size == first.sequence_number - 1
            if before.size:
                got = CompactRange(before.size, before.frontier).root()
                assert got == mems[first.session_id].root(before.size)

        # Proofs from the stored upper nodes (and lower ones rebuilt from the log).
        keeper = RecordKeeper(store, records, keyring(), clock)
        sid = sids[-1]
        mem = mems[sid]
        n = mem.size
        for size in (17, 32, n):
            for seq in range(1, size + 1):
                p = await keeper.inclusion(sid, seq, size)
                proof = [bytes.fromhex(h) for h in p["proof"]]
                assert bytes.fromhex(p["root_hash"]) == mem.root(size)
                leaf = mem.get(0, seq - 1)
                assert verify_inclusion(leaf, seq - 1, size, proof, mem.root(size))
        for old in (1, 5, 16, 31):
            p = await keeper.consistency(sid, old, n)
            proof = [bytes.fromhex(h) for h in p["proof"]]
            assert verify_consistency(old, n, mem.root(old), mem.root(n), proof)
    finally:
        await store.close()


async def _refuse_nodes_of(store: SessionStore, sid: str) -> None:
    """A trigger that fails the statement storing any tree node of ``sid``.

    The nodes are a batch's last write of the log (after its entries and its
    head), so the whole transaction has written everything else by then.
    """
    async with store.write_engine.begin() as conn:
        if store.write_engine.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_nodes AFTER INSERT ON merkle_nodes"
                    f" WHEN NEW.session_id = '{sid}'"
                    " BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse_nodes() RETURNS trigger LANGUAGE plpgsql AS $$"
                    f" BEGIN IF NEW.session_id = '{sid}' THEN"
                    " RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF;"
                    " RETURN NEW; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_nodes AFTER INSERT ON merkle_nodes"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_nodes()"
                )
            )


async def _allow_nodes(store: SessionStore) -> None:
    async with store.write_engine.begin() as conn:
        if store.write_engine.dialect.name == "sqlite":
            await conn.execute(text("DROP TRIGGER IF EXISTS refuse_nodes"))
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS refuse_nodes ON merkle_nodes"))
            await conn.execute(text("DROP FUNCTION IF EXISTS refuse_nodes()"))


async def test_a_rolled_back_batch_leaves_no_node(db_url: str) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    try:
        w = 1 << STORED_LEVEL  # the entries under the first stored node
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        for i in range(w - 2):
            await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
        assert await stored_nodes(store, sid) == {}  # w - 1 leaves: no stored node yet
        # The w-th entry completes node (STORED_LEVEL, 0); its batch fails as it stores it.
        await _refuse_nodes_of(store, sid)
        try:
            with pytest.raises(Exception, match="refused"):
                await court.execute(sid, c.LogCustom("NOTE", {"i": w - 2}), JUDGE)
            assert len(await store.entries(sid)) == w - 1
            assert (await RecordStore(store).tree(sid)).size == w - 1
            assert await stored_nodes(store, sid) == {}
        finally:
            await _allow_nodes(store)
        await court.execute(sid, c.LogCustom("NOTE", {"i": w - 2}), JUDGE)
        mem = await assert_tree_is_the_logs(store, sid)
        assert mem.size == w and (STORED_LEVEL, 0) in await stored_nodes(store, sid)
    finally:
        await store.close()


async def test_a_tree_left_behind_is_caught_up_then_grown_by_the_writer(db_url: str) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    sid = (await court.create_session(JUDGE)).entries[0].session_id
    await court.execute(sid, c.Start(), JUDGE)  # a live session, so that it can pause
    for i in range(40):
        await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
    await court.execute(sid, c.Pause(), JUDGE)
    await store.close()
    # A database whose tree is behind its log (from before the writer grew trees).
    store = SessionStore(db_url)
    async with store.write_engine.begin() as conn:
        await conn.execute(delete(MN).where(MN.c.session_id == sid))
        await conn.execute(update(S).where(S.c.id == sid).values(tree_size=0, tree_frontier=b""))
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    commits: list[Committed] = []
    court.on_commit(lambda s, done: commits.append(done))
    ring = keyring()
    keeper = RecordKeeper(store, RecordStore(store), ring, clock)
    court.on_commit(keeper.hook)
    try:
        # Not grown by the writer while behind: the keeper is told, and catches it up.
        await court.execute(sid, c.Resume(), JUDGE)
        assert commits[-1].tree is None
        await keeper.start()
        await keeper.idle()
        await assert_tree_is_the_logs(store, sid)
        # From the head on, the writer grows it again.
        await court.execute(sid, c.LogCustom("NOTE", {"i": "after"}), JUDGE)
        assert commits[-1].tree is not None
        mem = await assert_tree_is_the_logs(store, sid)
        cps = await keeper.checkpoints(sid)
        entries = await store.entries(sid)
        paused = [e.sequence_number for e in entries if e.event_type == "SESSION_PAUSED"]
        assert [cp.tree_size for cp in cps] == paused  # signed by the catch-up
        for cp in cps:
            assert bytes.fromhex(cp.root_hash) == mem.root(cp.tree_size)
            assert parse_note(cp.note).verify(ring.keys[0].public)
    finally:
        await keeper.close()
        await store.close()


async def test_a_boundary_checkpoint_lost_in_a_crash_is_signed_at_start_up(db_url: str) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    ring = keyring()
    keeper = RecordKeeper(store, RecordStore(store), ring, clock)
    court.on_commit(keeper.hook)
    await keeper.start()
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        await court.execute(sid, c.Start(), JUDGE)
        for i in range(3):
            await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
            await court.execute(sid, c.Pause(), JUDGE)
            await court.execute(sid, c.Resume(), JUDGE)
        await keeper.idle()
        before = await keeper.checkpoints(sid)
        assert len(before) == 3
    finally:
        await keeper.close()
    # The last two were committed but never signed (killed between the two).
    async with store.write_engine.begin() as conn:
        await conn.execute(
            delete(CP).where(CP.c.session_id == sid, CP.c.tree_size > before[0].tree_size)
        )
        count = await conn.execute(
            select(func.count()).select_from(CP).where(CP.c.session_id == sid)
        )
        assert count.scalar() == 1
    again = RecordKeeper(store, RecordStore(store), ring, clock)
    await again.start()
    try:
        await again.idle()
        after = await again.checkpoints(sid)
        assert [cp.tree_size for cp in after] == [cp.tree_size for cp in before]
        assert after[0] == before[0]  # the stored one stands
        mem = memory_tree(await store.entries(sid))
        for cp in after:
            assert cp.reason == "pause"
            assert bytes.fromhex(cp.root_hash) == mem.root(cp.tree_size)
            assert parse_note(cp.note).verify(ring.keys[0].public)
    finally:
        await again.close()
        await store.close()
