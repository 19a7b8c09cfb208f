"""The verifiable record v2 on the server: the Merkle tree of each log, checkpoints, proofs.

The tree is grown by the batch writer, in the log's own transaction
(``store/_tree.py``): every committed entry is in the stored tree. What stays
here, after the commit, is signing: the courtroom's ``on_commit`` hook hands
over each commit that holds a boundary entry (a turn's start or end, a round's
end, a pause, the completion) with the tree as it stood before the commit's
entries, and one task per node replays those few leaves, signs a checkpoint at
each boundary, stores the checkpoints of everything noted in one transaction
and sends them.

A tree the writer did not grow (it was behind its log: a database from before
that path, a lost tree) is caught up from the log by this task, under the
session's lock (``RecordStore.catch_up``), signing the boundaries it passes;
from then on the writer grows it. At start-up the node catches up every
session whose tree is shorter than its log, and signs the boundaries whose
checkpoint a crash between a commit and its signing lost.

A checkpoint frame goes through the broker, as the session's entries do
(``broker_delivery``): every node's hub sends it to its subscribers of the
session once it has delivered the entries the checkpoint covers.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from protocol import event_types as ev
from protocol.checkpoint import Checkpoint
from protocol.errors import ValidationFailed
from protocol.merkle import leaf_hash
from server.common.signing import Keyring
from server.live.broker import Broker
from server.live.proofs import ProofReads
from store import (
    STORED_LEVEL,
    CheckpointRow,
    Committed,
    Leaf,
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
        self._signing: list[tuple[str, TreeState, list[Leaf]]] = []  # commits with boundaries
        self._behind: dict[str, None] = {}  # sessions whose tree the writer did not grow
        self._recover = False
        # Weak: a session's lock lives while someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._busy = False

    # -- the hook and the task ------------------------------------------------

    def hook(self, session_id: str, committed: Committed) -> None:
        """``Courtroom.on_commit``: note a commit to sign, or a tree to catch up."""
        if committed.tree is not None:  # grown in the commit's own transaction
            for e in committed.entries:  # a plain loop: this runs for every commit
                if e.event_type in BOUNDARIES:
                    leaves = [(x.sequence_number, x.event_type, x.hash) for x in committed.entries]
                    self._signing.append((session_id, TreeState(*committed.tree), leaves))
                    self._wake.set()
                    break
        elif committed.entries:
            self._behind[session_id] = None
            self._wake.set()

    async def start(self) -> None:
        for sid in await self._records.behind():
            self._behind[sid] = None
        self._recover = True
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="record-keeper")

    async def close(self) -> None:
        """Sign and catch up what is noted, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def idle(self) -> None:
        """Until everything noted so far is signed and stored (tests, benchmarks)."""
        while (
            self._signing
            or self._behind
            or self._recover
            or self._busy
            or any(lock.locked() for lock in self._locks.values())
        ):
            await asyncio.sleep(0.005)

    async def _run(self) -> None:
        while True:
            if self._signing:
                await self._guarded(self._sign_noted())
            elif self._behind:
                sid = next(iter(self._behind))
                del self._behind[sid]
                await self._guarded(self.sync(sid))
            elif self._recover:
                await self._guarded(self._sign_lost())
                self._recover = False
            elif self._closing:
                return
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _guarded(self, step: Awaitable[Any]) -> None:
        self._busy = True
        try:
            await step
        except Exception:  # the log and its tree are committed; a restart signs what is lost
            log.exception("record: a step of the record keeper failed")
            await asyncio.sleep(0.1)
        finally:
            self._busy = False

    # -- signing --------------------------------------------------------------

    async def _sign_noted(self) -> None:
        """Sign the boundaries of the commits noted so far; store them in one transaction."""
        noted, self._signing = self._signing, []
        rows = [cp for sid, tree, leaves in noted for cp in self._walk(sid, tree, leaves)[2]]
        for cp in await self._records.add_checkpoints(rows):
            await self._send(cp)

    async def _sign_lost(self) -> None:
        """Sign the boundaries after each session's last boundary checkpoint (after a crash)."""
        reasons = sorted(set(BOUNDARIES.values()))
        rows = []
        for sid, (seq, event_type, h) in await self._records.unsigned(list(BOUNDARIES), reasons):
            root = bytes.fromhex(await self.root(sid, seq))  # catches the tree up if short
            rows.append(self._sign(sid, seq, root, h, BOUNDARIES[event_type]))
        for cp in await self._records.add_checkpoints(rows):
            await self._send(cp)

    def _walk(
        self, session_id: str, tree: TreeState, leaves: Sequence[Leaf]
    ) -> tuple[TreeState, list[tuple[int, int, bytes]], list[CheckpointRow]]:
        """Append ``leaves`` to ``tree``: the new tree, its stored nodes, a checkpoint per boundary."""
        work = tree.range()
        nodes: list[tuple[int, int, bytes]] = []
        cps: list[CheckpointRow] = []
        for seq, event_type, h in leaves:
            if seq != work.size + 1:
                break  # a gap in what was read: the rest waits for the next pass
            nodes += work.extend((leaf_hash(h),), STORED_LEVEL)
            reason = BOUNDARIES.get(event_type)
            if reason is not None:
                cps.append(self._sign(session_id, work.size, work.root(), h, reason))
        return TreeState.of(work), nodes, cps

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    async def sync(self, session_id: str, *, to_head: bool = False) -> int:
        """Bring the session's stored tree to its log's head (a no-op when the writer grew it)."""
        async with self._lock(session_id):
            size, cps = await self._records.catch_up(
                session_id, lambda tree, leaves: self._walk(session_id, tree, leaves)
            )
        for cp in cps:
            await self._send(cp)
        return size

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

    async def final(self, session_id: str) -> CheckpointRow | None:
        """A completed session's final checkpoint, once signed (just after the completion)."""
        return await self._records.final(session_id)


def broker_delivery(broker: Broker) -> Deliver:
    """Publish a checkpoint frame to every node's subscribers of the session.

    Checkpoints of a session are sent in order (``_sign_noted`` awaits each), with
    rising tree sizes; each hub holds one until it has delivered entry
    ``tree_size`` (server/live/hub.py ``receive_frame``).
    """

    async def deliver(row: CheckpointRow) -> None:
        await broker.publish_frame(row.session_id, row.tree_size, checkpoint_frame(row))

    return deliver
