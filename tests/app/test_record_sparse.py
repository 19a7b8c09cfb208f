"""Proofs where the tree stores only its upper levels (``server/live/record.py`` ``STORED_LEVEL``).

Nodes below ``STORED_LEVEL`` are never stored; a proof rebuilds them from the
entries of their block. Every inclusion proof of a 150-entry log (blocks of 64,
the last one partial) and consistency proofs across block edges must verify
against a tree built here from the entries alone, on both databases.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from server.common.signing import Keyring
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.proofs import STORED_LEVEL
from server.live.record import RecordKeeper
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import RecordStore, SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def test_proofs_rebuild_the_unstored_levels(db_url: str) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    records = RecordStore(store)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    keeper = RecordKeeper(store, records, Keyring("k", Ed25519PrivateKey.generate(), []), clock)
    court.on_commit(keeper.hook)
    await keeper.start()
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        for i in range(149):
            await court.execute(sid, LogCustom("NOTE", {"i": i}), JUDGE)
        assert await keeper.sync(sid, to_head=True) == 150
        entries = await store.entries(sid)
        tree = MemoryTree()
        for e in entries:
            tree.append(leaf_hash(e.hash))

        stored = await records.nodes(sid, [(lv, i) for lv in range(8) for i in range(150)])
        assert stored and min(lv for lv, _ in stored) == STORED_LEVEL  # nothing lower is kept

        w = 1 << STORED_LEVEL  # a block's leaves: 150 entries are two blocks and part of one
        assert 2 * w < 150 < 3 * w
        for size in (1, w - 1, w, w + 1, 2 * w + 1, 149, 150):
            assert await keeper.root(sid, size) == tree.root(size).hex()
            for seq in range(1, size + 1):
                p = await keeper.inclusion(sid, seq, size)
                proof = [bytes.fromhex(h) for h in p["proof"]]
                assert proof == tree.inclusion(seq - 1, size)
                assert verify_inclusion(
                    leaf_hash(entries[seq - 1].hash), seq - 1, size, proof, tree.root(size)
                )
        edges = ((1, 150), (w - 1, w + 1), (w, 2 * w + 1), (w // 2 - 1, 150), (100, 149))
        for old, new in (*edges, (150, 150)):
            c = await keeper.consistency(sid, old, new)
            proof = [bytes.fromhex(h) for h in c["proof"]]
            assert verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    finally:
        await keeper.close()
        await store.close()
