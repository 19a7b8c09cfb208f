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

    async def _size(self, session_id: str, need: int) -> int:
        """The stored tree's size, built up to the log's head first if it is short of ``need``."""
        size = (await self._records.tree(session_id)).size
        if size < need:
            await self._store.row(session_id)  # 404 for an unknown session
            size = await self.sync(session_id, to_head=True)
        if size < need:
            raise NotFound(f"the log has {size} entries, not {need}")
        return size

    async def _hashes(self, session_id: str, ranges: Sequence[tuple[int, int]]) -> list[str]:
        """The hash of each subtree, from its complete nodes.

        Nodes from ``STORED_LEVEL`` up come from ``merkle_nodes`` in one query;
        those below, from the entries of the (at most a few) blocks of
        ``2**STORED_LEVEL`` leaves that hold them.
        """
        wanted = proof_nodes(ranges)
        nodes = await self._records.nodes(session_id, [n for n in wanted if n[0] >= STORED_LEVEL])
        width = 1 << STORED_LEVEL
        for block in sorted({(i << lv) // width for lv, i in wanted if lv < STORED_LEVEL}):
            entries = await self._store.entries(session_id, block * width + 1, width)
            small = CompactRange()  # the block's own subtree; its node i at lv is global
            for e in entries:
                for lv, i, h in small.append(leaf_hash(e.hash)):
                    nodes[(lv, (block << (STORED_LEVEL - lv)) + i)] = h
        if any(n not in nodes for n in wanted):
            raise NotFound("the tree is missing nodes (still being built?)")
        return [fold([nodes[n] for n in range_nodes(a, b)]).hex() for a, b in ranges]

    async def root(self, session_id: str, size: int) -> str:
        (root,) = await self._hashes(session_id, [(0, size)])
        return root

    async def inclusion(self, session_id: str, sequence: int, size: int) -> dict[str, Any]:
        """RFC 9162 inclusion proof of entry ``sequence`` (leaf ``sequence - 1``) in tree ``size``.

        Two queries: the tree's size, then every node of the proof and the root.
        """
        try:
            ranges = inclusion_ranges(sequence - 1, size)
        except ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        await self._size(session_id, size)
        root, *proof = await self._hashes(session_id, [(0, size), *ranges])
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
        await self._size(session_id, new)
        old_root, new_root, *proof = await self._hashes(session_id, [(0, old), (0, new), *ranges])
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
        await self._size(session_id, sequence)
        cp = await self._records.covering(session_id, sequence)
        if cp is None:
            cp = await self.checkpoint_now(session_id, "receipt")
        proof = await self.inclusion(session_id, sequence, cp.tree_size)
        return {
            "entry": orjson.loads(entries[0].json()),
            "checkpoint": cp.as_dict(),
            "inclusion": proof,
        }
