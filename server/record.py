"""The verifiable record v2 on the server: the Merkle tree of each log, checkpoints, proofs.

The tree is derived data, kept *after* the log's commit: the courtroom's
``on_commit`` hook only notes that a session has new entries; one task per
node extends each noted session's tree from where the table says it ends, in
a transaction of its own (``store/_record.py``), and signs a checkpoint when
an entry is a boundary (a turn's start or end, a round's end, a pause, the
completion). Commits of one session that arrive while the task is busy are
taken together. Entries that reached no hook on this node (another node's, a
session's first entry, a crash between commit and tree) are read from the log:
the tree never trusts the hook to be complete, only the log. At start-up the
node catches up every session whose tree is shorter than its log.

A checkpoint frame goes to this node's subscribers of the session after the
entries it covers; subscribers on other nodes read ``/checkpoints`` (or get
the next checkpoint their own node issues).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from protocol import event_types as ev
from protocol.checkpoint import Checkpoint
from protocol.errors import NotFound, ValidationFailed
from protocol.merkle import (
    CompactRange,
    ProofError,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    proof_nodes,
    range_nodes,
)
from server.frames import OutFrame
from server.hub import Hub
from server.signing import Keyring
from store import (
    CheckpointRow,
    Committed,
    LogEntry,
    RecordStore,
    SessionStore,
    TreeState,
    ms_to_iso,
)
from timers import Clock

log = logging.getLogger("courtroom.record")

# Entry types after which a checkpoint is signed, and the reason it records.
BOUNDARIES: dict[str, str] = {
    ev.TURN_STARTED: "turn",
    ev.TURN_SUBMITTED: "turn",
    ev.TURN_AUTO_SUBMITTED: "turn",
    ev.TURN_FORCE_SUBMITTED: "turn",
    ev.ROUND_COMPLETED: "round",
    ev.ROUND_ABORTED: "round",
    ev.SESSION_PAUSED: "pause",
    ev.SESSION_COMPLETED: "completed",
}

Deliver = Callable[[str, bytes], None]
_PAGE = 5000  # entries read from the log per pass (catching up a long log)


def checkpoint_frame(row: CheckpointRow) -> bytes:
    return orjson.dumps({"type": "checkpoint", **row.as_dict()})


class RecordKeeper:
    def __init__(
        self,
        store: SessionStore,
        records: RecordStore,
        keyring: Keyring,
        clock: Clock,
        deliver: Deliver | None = None,
    ) -> None:
        self._store = store
        self._records = records
        self.keyring = keyring
        self._clock = clock
        self._deliver = deliver
        self._pending: dict[str, list[LogEntry]] = {}
        self._trees: dict[str, CompactRange] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- the hook and the task ------------------------------------------------

    def hook(self, session_id: str, committed: Committed) -> None:
        """``Courtroom.on_commit``: note the entries; the task builds the tree."""
        self._pending.setdefault(session_id, []).extend(committed.entries)
        self._wake.set()

    async def start(self) -> None:
        for sid in await self._records.behind():
            self._pending.setdefault(sid, [])
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="record-keeper")

    async def close(self) -> None:
        """Build what is noted, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def idle(self) -> None:
        """Until everything noted so far is in the tree (tests, benchmarks)."""
        while self._pending or any(lock.locked() for lock in self._locks.values()):
            await asyncio.sleep(0.005)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            sid = next(iter(self._pending))
            try:
                await self.sync(sid)
            except Exception:  # the log is committed; the tree catches up on the next note
                log.exception("record: the tree of %s could not be extended", sid)
                self._pending.pop(sid, None)
                self._trees.pop(sid, None)
                await asyncio.sleep(0.1)

    # -- building -------------------------------------------------------------

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def sync(self, session_id: str, *, to_head: bool = False) -> int:
        """Extend the session's tree with its noted entries (``to_head``: with the whole log).

        Returns the tree size.
        """
        async with self._lock(session_id):
            while True:
                noted = self._pending.pop(session_id, [])
                tree = self._trees.get(session_id)
                if tree is None:
                    state = await self._records.tree(session_id)
                    tree = CompactRange(state.size, state.frontier)
                old = tree.size
                fresh = [e for e in noted if e.sequence_number > old]
                read = to_head or not fresh or fresh[0].sequence_number != old + 1
                if read:
                    fresh = await self._store.entries(session_id, old + 1, _PAGE)
                if not fresh:
                    self._trees[session_id] = tree
                    return old
                size = await self._extend(session_id, tree, fresh)
                if size is None:  # another node extended it first: start again from the table
                    self._trees.pop(session_id, None)
                    self._pending.setdefault(session_id, []).extend(noted)
                    continue
                if not (read and len(fresh) == _PAGE) and session_id not in self._pending:
                    return size

    async def _extend(
        self, session_id: str, tree: CompactRange, entries: Sequence[LogEntry]
    ) -> int | None:
        work = CompactRange(tree.size, tree.frontier)
        old = work.size
        nodes: list[tuple[int, int, bytes]] = []
        cps: list[CheckpointRow] = []
        for e in entries:
            if e.sequence_number != work.size + 1:
                break  # a gap in what was read: the rest waits for the next pass
            nodes.extend(work.append(leaf_hash(e.hash)))
            reason = BOUNDARIES.get(e.event_type)
            if reason is not None:
                cps.append(self._sign(session_id, work.size, work.root(), e.hash, reason))
        written = await self._records.extend(
            session_id, old, TreeState(work.size, work.frontier), nodes, cps
        )
        if written is None:
            return None
        if any(e.event_type == ev.SESSION_COMPLETED for e in entries):
            self._trees.pop(session_id, None)  # rarely extended again: free the memory
        else:
            self._trees[session_id] = work
        for cp in written:
            self._send(cp)
        return work.size

    def _sign(
        self, session_id: str, size: int, root: bytes, head: str, reason: str
    ) -> CheckpointRow:
        cp = Checkpoint(session_id, size, root, head, ms_to_iso(self._clock()))
        signed = self.keyring.sign(cp)
        return CheckpointRow(
            session_id, size, root.hex(), head, cp.time, signed.key_id, reason, signed.note()
        )

    def _send(self, row: CheckpointRow) -> None:
        if self._deliver is not None:
            try:
                self._deliver(row.session_id, checkpoint_frame(row))
            except Exception:  # a subscriber's trouble must not undo a stored checkpoint
                log.exception("record: delivering a checkpoint of %s failed", row.session_id)

    # -- on demand and reads --------------------------------------------------

    async def checkpoint_now(self, session_id: str) -> CheckpointRow:
        """A signed checkpoint of the whole log as it is now (a judge's request)."""
        await self._store.row(session_id)  # 404 for an unknown session
        size = await self.sync(session_id, to_head=True)
        if size == 0:
            raise ValidationFailed("the session has no entries yet")
        (head,) = await self._store.entries(session_id, size, 1)
        nodes = await self._nodes(session_id, range_nodes(0, size))
        root = fold([nodes[n] for n in range_nodes(0, size)])
        row = self._sign(session_id, size, root, head.hash, "judge")
        stored = await self._records.add_checkpoint(row)
        if stored is row:
            self._send(row)
        return stored

    async def checkpoints(self, session_id: str) -> list[CheckpointRow]:
        await self._store.row(session_id)
        return await self._records.checkpoints(session_id)

    async def _size(self, session_id: str, need: int) -> int:
        size = (await self._records.tree(session_id)).size
        if size < need:
            size = await self.sync(session_id, to_head=True)
        if size < need:
            raise NotFound(f"the log has {size} entries, not {need}")
        return size

    async def _nodes(
        self, session_id: str, wanted: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        nodes = await self._records.nodes(session_id, wanted)
        if len(nodes) != len(set(wanted)):
            raise NotFound("the tree is missing nodes (still being built?)")
        return nodes

    async def _proof(self, session_id: str, ranges: list[tuple[int, int]]) -> list[str]:
        wanted = proof_nodes(ranges)
        nodes = await self._nodes(session_id, wanted)
        return [fold([nodes[n] for n in range_nodes(a, b)]).hex() for a, b in ranges]

    async def root(self, session_id: str, size: int) -> str:
        nodes = await self._nodes(session_id, range_nodes(0, size))
        return fold([nodes[n] for n in range_nodes(0, size)]).hex()

    async def inclusion(self, session_id: str, sequence: int, size: int) -> dict[str, Any]:
        """RFC 9162 inclusion proof of entry ``sequence`` (leaf ``sequence - 1``) in tree ``size``."""
        await self._store.row(session_id)
        await self._size(session_id, size)
        try:
            ranges = inclusion_ranges(sequence - 1, size)
        except ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        return {
            "session_id": session_id,
            "sequence_number": sequence,
            "leaf_index": sequence - 1,
            "tree_size": size,
            "root_hash": await self.root(session_id, size),
            "proof": await self._proof(session_id, ranges),
        }

    async def consistency(self, session_id: str, old: int, new: int) -> dict[str, Any]:
        """RFC 9162 consistency proof from tree ``old`` to tree ``new``."""
        await self._store.row(session_id)
        await self._size(session_id, new)
        try:
            ranges = consistency_ranges(old, new)
        except ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        return {
            "session_id": session_id,
            "from": old,
            "to": new,
            "from_root": await self.root(session_id, old),
            "to_root": await self.root(session_id, new),
            "proof": await self._proof(session_id, ranges),
        }

    async def receipt(self, session_id: str, sequence: int) -> dict[str, Any]:
        """An entry, a signed checkpoint that covers it, and its inclusion proof there."""
        await self._store.row(session_id)
        entries = await self._store.entries(session_id, sequence, 1)
        if not entries or entries[0].sequence_number != sequence:
            raise NotFound(f"no entry #{sequence}")
        await self._size(session_id, sequence)
        cp = await self._records.covering(session_id, sequence)
        if cp is None:
            cp = await self.checkpoint_now(session_id)
        proof = await self.inclusion(session_id, sequence, cp.tree_size)
        return {
            "entry": orjson.loads(entries[0].json()),
            "checkpoint": cp.as_dict(),
            "inclusion": proof,
        }


def hub_delivery(hub: Hub) -> Deliver:
    """Send a checkpoint frame to this node's subscribers of the session.

    A subscriber still catching up (``syncing``) skips it: it reads
    ``/checkpoints`` when it needs them.
    """

    def deliver(session_id: str, data: bytes) -> None:
        ch = hub.channel(session_id)
        if ch is None:
            return
        frame = OutFrame(data)
        slow = [s for s in ch.subs if not s.syncing and not s.outbound.push(frame)]
        for sub in slow:
            sub.too_slow()

    return deliver
