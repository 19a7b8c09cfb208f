"""Proofs from the stored tree: roots, RFC 9162 inclusion and consistency proofs, receipts.

The reading half of the record keeper (``server/live/record.py``), a base
class of ``RecordKeeper``: it needs the keeper's ``sync`` (to store a tree up
to the log's head before a proof) and ``checkpoint_now`` (for a receipt no
checkpoint covers yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

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
from store import (
    STORED_LEVEL,  # only nodes of this level and up are stored (store/_tree.py)
    CheckpointRow,
    RecordStore,
    SessionStore,
)

__all__ = ["STORED_LEVEL", "ProofReads"]


class ProofReads:
    _store: SessionStore
    _records: RecordStore

    async def sync(self, session_id: str, *, to_head: bool = False) -> int:
        raise NotImplementedError

    async def checkpoint_now(self, session_id: str, reason: str = "judge") -> CheckpointRow:
        raise NotImplementedError

    async def _reach(self, session_id: str, need: int) -> None:
        """Build a stored tree short of ``need`` leaves up to the log's head; 404 if it stays short."""
        await self._store.row(session_id)  # 404 for an unknown session
        size = await self.sync(session_id, to_head=True)
        if size < need:
            raise NotFound(f"the log has {size} entries, not {need}")

    async def _hashes(
        self, session_id: str, ranges: Sequence[tuple[int, int]], need: int
    ) -> list[str]:
        """The hash of each subtree, from its complete nodes, in a tree of at least ``need`` leaves.

        One query (``RecordStore.proof_reads``): the stored tree's size, the
        nodes from ``STORED_LEVEL`` up, and the entries of the (at most a few)
        blocks of ``2**STORED_LEVEL`` leaves whose lower nodes are rebuilt here.
        A tree short of ``need`` is brought to the log's head first, and read again.
        """
        wanted = proof_nodes(ranges)
        width = 1 << STORED_LEVEL
        blocks = sorted({(i << lv) // width for lv, i in wanted if lv < STORED_LEVEL})
        spans = [(b * width + 1, (b + 1) * width) for b in blocks]
        upper = [n for n in wanted if n[0] >= STORED_LEVEL]
        got = await self._records.proof_reads(session_id, upper, spans)
        if got.tree_size < need:
            await self._reach(session_id, need)
            got = await self._records.proof_reads(session_id, upper, spans)
        nodes = got.nodes
        for block in blocks:
            small = CompactRange()  # the block's own subtree; its node i at lv is global
            for seq in range(block * width + 1, (block + 1) * width + 1):
                h = got.entries.get(seq)
                if h is None:
                    break
                for lv, i, node in small.append(leaf_hash(h)):
                    nodes[(lv, (block << (STORED_LEVEL - lv)) + i)] = node
        if any(n not in nodes for n in wanted):
            raise NotFound("the tree is missing nodes (still being built?)")
        return [fold([nodes[n] for n in range_nodes(a, b)]).hex() for a, b in ranges]

    async def root(self, session_id: str, size: int) -> str:
        (root,) = await self._hashes(session_id, [(0, size)], size)
        return root

    async def inclusion(self, session_id: str, sequence: int, size: int) -> dict[str, Any]:
        """RFC 9162 inclusion proof of entry ``sequence`` (leaf ``sequence - 1``) in tree ``size``.

        One query: the tree's size, every node of the proof and of the root.
        """
        try:
            ranges = inclusion_ranges(sequence - 1, size)
        except ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        root, *proof = await self._hashes(session_id, [(0, size), *ranges], size)
        return {
            "session_id": session_id,
            "sequence_number": sequence,
            "leaf_index": sequence - 1,
            "tree_size": size,
            "root_hash": root,
            "proof": proof,
        }

    async def consistency(self, session_id: str, old: int, new: int) -> dict[str, Any]:
        """RFC 9162 consistency proof from tree ``old`` to tree ``new``."""
        try:
            ranges = consistency_ranges(old, new)
        except ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        old_root, new_root, *proof = await self._hashes(
            session_id, [(0, old), (0, new), *ranges], new
        )
        return {
            "session_id": session_id,
            "from": old,
            "to": new,
            "from_root": old_root,
            "to_root": new_root,
            "proof": proof,
        }

    async def receipt(self, session_id: str, sequence: int) -> dict[str, Any]:
        """An entry, a signed checkpoint that covers it, and its inclusion proof there."""
        await self._store.row(session_id)
        entries = await self._store.entries(session_id, sequence, 1)
        if not entries or entries[0].sequence_number != sequence:
            raise NotFound(f"no entry #{sequence}")
        cp = await self._records.covering(session_id, sequence)
        if cp is None:
            cp = await self.checkpoint_now(session_id, "receipt")
        proof = await self.inclusion(session_id, sequence, cp.tree_size)
        return {
            "entry": orjson.loads(entries[0].json()),
            "checkpoint": cp.as_dict(),
            "inclusion": proof,
        }
