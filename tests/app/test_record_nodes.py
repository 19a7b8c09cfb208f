"""Two nodes' record keepers on one database: one tree, one checkpoint per size."""

from __future__ import annotations

import asyncio
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.checkpoint import parse_note, public_key_bytes
from protocol.merkle import MemoryTree, leaf_hash, verify_inclusion
from server.common.signing import Keyring, PublicKey
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.record import RecordKeeper
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import RecordStore, SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def test_two_keepers_build_one_tree(db_url: str) -> None:
    await migrate(db_url)
    private = Ed25519PrivateKey.generate()
    ring = Keyring(
        "courtroom",
        private,
        [PublicKey("courtroom", public_key_bytes(private.public_key()), None, None)],
    )
    nodes = []
    for _ in range(2):  # two nodes: a store, a courtroom and a keeper each
        store = SessionStore(db_url)
        court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
        keeper = RecordKeeper(store, RecordStore(store), ring, clock)
        court.on_commit(keeper.hook)
        await keeper.start()
        nodes.append((store, court, keeper))
    try:
        a, b = nodes[0][1], nodes[1][1]
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        await a.execute(sid, c.Start(), JUDGE)

        async def client(court: Courtroom, tag: str) -> None:
            for i in range(30):
                await court.execute(sid, c.LogCustom("NOTE", {"by": tag, "i": i}), JUDGE)
                if tag == "a" and i % 10 == 9:
                    await court.execute(sid, c.Pause(), JUDGE)
                    await court.execute(sid, c.Resume(), JUDGE)

        await asyncio.gather(client(a, "a"), client(b, "b"))
        for _, _, keeper in nodes:
            await keeper.idle()
        store, _, keeper = nodes[1]
        size = await keeper.sync(sid, to_head=True)
        entries = await store.entries(sid)
        assert size == len(entries) == 2 + 60 + 3 * 2
        tree = MemoryTree()
        for e in entries:
            tree.append(leaf_hash(e.hash))
        cps = await keeper.checkpoints(sid)
        paused = [e.sequence_number for e in entries if e.event_type == "SESSION_PAUSED"]
        assert [cp.tree_size for cp in cps] == paused  # one per boundary, none twice
        for cp in cps:
            assert bytes.fromhex(cp.root_hash) == tree.root(cp.tree_size)
            assert parse_note(cp.note).verify(ring.keys[0].public)
        for seq in (1, size // 2, size):
            p = await nodes[0][2].inclusion(sid, seq, size)
            proof = [bytes.fromhex(h) for h in p["proof"]]
            assert verify_inclusion(
                leaf_hash(entries[seq - 1].hash), seq - 1, size, proof, tree.root()
            )
    finally:
        for store, _, keeper in nodes:
            await keeper.close()
            await store.close()


async def test_create_session_runs_the_commit_hooks(db_url: str) -> None:
    """A session's first entry reaches the hooks like any command's: the tree has it at once."""
    await migrate(db_url)
    store = SessionStore(db_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    seen: list[tuple[str, list[int], list[str]]] = []
    court.on_commit(
        lambda sid, done: seen.append(
            (sid, [e.sequence_number for e in done.entries], [e.event_type for e in done.entries])
        )
    )
    records = RecordStore(store)
    keeper = RecordKeeper(
        store, records, Keyring("courtroom", Ed25519PrivateKey.generate(), []), clock
    )
    court.on_commit(keeper.hook)
    await keeper.start()
    try:
        created = await court.create_session(JUDGE, title="hooked")
        sid = created.entries[0].session_id
        assert seen == [(sid, [1], ["SESSION_CREATED"])]
        # No later command and no restart: only the hook can have told the keeper.
        await keeper.idle()
        tree = await records.tree(sid)
        assert tree.size == 1
        assert tree.frontier == [leaf_hash(created.entries[0].hash)]
        await court.execute(sid, c.Start(), JUDGE)
        assert [s[1] for s in seen] == [[1], [2]]
    finally:
        await keeper.close()
        await store.close()
