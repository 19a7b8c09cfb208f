"""The verifiable record v2 on the server: the Merkle tree of each log, checkpoints, proofs.

The tree is derived data, kept *after* the log's commit: the courtroom's
``on_commit`` hook only notes that a session has new entries; one task per
node extends each noted session's tree from where the table says it ends, in
a transaction of its own (``store/_record.py``), and signs a checkpoint when
an entry is a boundary (a turn's start or end, a round's end, a pause, the
completion). Commits of one session that arrive while the task is busy are
taken together. Entries that reached no hook on this node (another node's, a
crash between commit and tree) are read from the log:
the tree never trusts the hook to be complete, only the log. At start-up the
node catches up every session whose tree is shorter than its log.

A checkpoint frame goes through the broker, as the session's entries do
(``broker_delivery``): every node's hub sends it to its subscribers of the
session once it has delivered the entries the checkpoint covers.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from protocol import event_types as ev
from protocol.checkpoint import Checkpoint
from protocol.errors import ValidationFailed
from protocol.merkle import (
    CompactRange,
    leaf_hash,
)
from server.common.signing import Keyring
from server.live.broker import Broker
from server.live.proofs import STORED_LEVEL, ProofReads
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

Deliver = Callable[[CheckpointRow], Awaitable[None]]
_PAGE = 5000  # entries read from the log per pass (catching up a long log)
_BATCH = 256  # sessions whose trees one transaction extends
_GATHER_S = 0.01  # lets a few of the writer's commits gather into one pass
_FLUSH_S = 0.5  # the longest built nodes wait in memory before they are stored
_MAX_UNSTORED = 20_000  # nodes of one session held before they are stored (catching up)


@dataclass(slots=True)
class _Plan:
    session_id: str
    old: int
    tree: CompactRange
    nodes: list[tuple[int, int, bytes]]
    cps: list[CheckpointRow]
    completed: bool
    noted: list[LogEntry]


def checkpoint_frame(row: CheckpointRow) -> bytes:
    return orjson.dumps({"type": "checkpoint", **row.as_dict()})


class RecordKeeper(ProofReads):
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
        # Weak: a session's lock lives while someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._building = False
        self._dirty: dict[str, _Plan] = {}  # built, not yet stored

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
        while (
            self._pending
            or self._dirty
            or self._building
            or any(lock.locked() for lock in self._locks.values())
        ):
            await asyncio.sleep(0.005)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    await self._guarded(self._flush, list(self._dirty))
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), _FLUSH_S if self._dirty else None)
                except TimeoutError:
                    await self._guarded(self._flush, list(self._dirty))
                    continue
                # Let a few of the writer's commits gather: one pass for all of them.
                await asyncio.sleep(_GATHER_S)
                continue
            sids = [s for s in list(self._pending)[:_BATCH] if not self._lock(s).locked()]
            if not sids:
                await asyncio.sleep(0.001)
                continue
            await self._guarded(self._build, sids)

    async def _guarded(self, step: Callable[[list[str]], Awaitable[Any]], sids: list[str]) -> None:
        if not sids:
            return
        self._building = True
        try:
            await step(sids)
        except Exception:  # the log is committed; the tree catches up on the next note
            log.exception("record: the trees of %d sessions could not be extended", len(sids))
            for sid in sids:
                self._pending.pop(sid, None)
                self._trees.pop(sid, None)
                self._dirty.pop(sid, None)
            await asyncio.sleep(0.1)
        finally:
            self._building = False

    # -- building -------------------------------------------------------------

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    async def sync(self, session_id: str, *, to_head: bool = False) -> int:
        """Extend and store the session's tree now (``to_head``: the whole log); its size."""
        while True:
            async with self._lock(session_id):
                more = await self._build([session_id], to_head=to_head)
                stored = await self._flush([session_id])
                if stored and not more and (to_head or session_id not in self._pending):
                    tree = self._trees.get(session_id)
                    if tree is not None:
                        return tree.size
                    return (await self._records.tree(session_id)).size

    async def _build(self, sids: Sequence[str], *, to_head: bool = False) -> bool:
        """Extend the in-memory trees of ``sids``; True if some have more log to read.

        The new nodes are stored by ``_flush``: at once when a checkpoint was
        signed (it is stored before it is sent), else within ``_FLUSH_S`` (a
        proof or a bundle flushes first). Until then they are derived data that
        a restart rebuilds from the log.
        """
        more = False
        signed: list[str] = []
        for sid in sids:
            noted = self._pending.pop(sid, [])
            tree = self._trees.get(sid)
            if tree is None:
                state = await self._records.tree(sid)
                tree = CompactRange(state.size, state.frontier)
            old = tree.size
            fresh = [e for e in noted if e.sequence_number > old]
            if to_head or not fresh or fresh[0].sequence_number != old + 1:
                fresh = await self._store.entries(sid, old + 1, _PAGE)
                if len(fresh) == _PAGE:
                    more = True
                    self._pending.setdefault(sid, [])
            if not fresh:
                self._trees[sid] = tree
                continue
            plan = self._plan(sid, tree, fresh, noted)
            self._trees[sid] = plan.tree
            have = self._dirty.get(sid)
            if have is None:
                self._dirty[sid] = plan
            else:
                have.tree = plan.tree
                have.nodes.extend(plan.nodes)
                have.cps.extend(plan.cps)
                have.completed = have.completed or plan.completed
                have.noted.extend(plan.noted)
            if plan.cps or len(self._dirty[sid].nodes) > _MAX_UNSTORED:
                signed.append(sid)
        await self._flush(signed)
        return more

    async def _flush(self, sids: list[str]) -> bool:
        """Store the built trees of ``sids`` in one transaction; False if one had moved."""
        plans = [p for sid in sids if (p := self._dirty.pop(sid, None)) is not None]
        if not plans:
            return True
        written = await self._records.extend_many(
            [
                (p.session_id, p.old, TreeState(p.tree.size, p.tree.frontier), p.nodes, p.cps)
                for p in plans
            ]
        )
        if written is None:  # another node extended one first: start again from the table
            for p in plans:
                self._trees.pop(p.session_id, None)
                self._pending.setdefault(p.session_id, []).extend(p.noted)
            return False
        for p, cps in zip(plans, written, strict=True):
            if p.completed and self._trees.get(p.session_id) is p.tree:
                self._trees.pop(p.session_id, None)  # rarely extended again: free the memory
            for cp in cps:
                await self._send(cp)
        return True

    def _plan(
        self,
        session_id: str,
        tree: CompactRange,
        entries: Sequence[LogEntry],
        noted: list[LogEntry],
    ) -> _Plan:
        work = CompactRange(tree.size, tree.frontier)
        plan = _Plan(session_id, tree.size, work, [], [], False, noted)
        for e in entries:
            if e.sequence_number != work.size + 1:
                break  # a gap in what was read: the rest waits for the next pass
            plan.nodes.extend(n for n in work.append(leaf_hash(e.hash)) if n[0] >= STORED_LEVEL)
            reason = BOUNDARIES.get(e.event_type)
            if reason is not None:
                plan.cps.append(self._sign(session_id, work.size, work.root(), e.hash, reason))
            if e.event_type == ev.SESSION_COMPLETED:
                plan.completed = True
        return plan

    def _sign(
        self, session_id: str, size: int, root: bytes, head: str, reason: str
    ) -> CheckpointRow:
        cp = Checkpoint(session_id, size, root, head, ms_to_iso(self._clock()))
        signed = self.keyring.sign(cp)
        return CheckpointRow(
            session_id, size, root.hex(), head, cp.time, signed.key_id, reason, signed.note()
        )

    async def _send(self, row: CheckpointRow) -> None:
        if self._deliver is not None:
            try:
                await self._deliver(row)
            except Exception:  # a subscriber's trouble must not undo a stored checkpoint
                log.exception("record: delivering a checkpoint of %s failed", row.session_id)

    # -- on demand and reads --------------------------------------------------

    async def checkpoint_now(self, session_id: str, reason: str = "judge") -> CheckpointRow:
        """A signed checkpoint of the whole log as it is now (a judge's request, a receipt)."""
        await self._store.row(session_id)  # 404 for an unknown session
        size = await self.sync(session_id, to_head=True)
        if size == 0:
            raise ValidationFailed("the session has no entries yet")
        (head,) = await self._store.entries(session_id, size, 1)
        root = bytes.fromhex(await self.root(session_id, size))
        row = self._sign(session_id, size, root, head.hash, reason)
        stored = await self._records.add_checkpoint(row)
        if stored is row:
            await self._send(row)
        return stored

    async def checkpoints(self, session_id: str) -> list[CheckpointRow]:
        await self._store.row(session_id)
        return await self._records.checkpoints(session_id)


def broker_delivery(broker: Broker) -> Deliver:
    """Publish a checkpoint frame to every node's subscribers of the session.

    Checkpoints of a session are sent in order (``_flush`` awaits each), with
    rising tree sizes; each hub holds one until it has delivered entry
    ``tree_size`` (server/live/hub.py ``receive_frame``).
    """

    async def deliver(row: CheckpointRow) -> None:
        await broker.publish_frame(row.session_id, row.tree_size, checkpoint_frame(row))

    return deliver
