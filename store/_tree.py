"""The Merkle tree of each log, grown inside the batch writer's transaction (issue 11).

The planner has chained every new entry of a batch in sequence order under its
session's lock; ``grow`` is a pass over the plan's outcomes that appends each
entry's leaf to its session's compact range (``protocol/merkle.py``) and
collects what the batch must store besides the log: the complete nodes of
level ``STORED_LEVEL`` and up (one row per 8 entries) and each tree's new size
and right edge. They are written in the same transaction as the entries, so a
committed entry is always in the stored tree and a rolled-back batch leaves
no node behind.

Only a tree that stood at its log's head when the batch read it (under the
session's lock) is grown; a tree left behind (a database from before this
path, a deleted tree) is caught up from the log by the record keeper, and the
writer takes it over once it reaches the head. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol.merkle import CompactRange, leaf_hash
from store._lru import Remembered
from store._plan import Committed
from store._tree_state import TreeState

# Only nodes of this level and up are stored (one row per 8 entries, not two per
# entry): a node below it is rebuilt from the 16 entries of its block when a
# proof needs it (server/live/proofs.py).
STORED_LEVEL = 4

NodeRow = tuple[str, int, int, bytes]  # session_id, level, idx, hash
__all__ = ["STORED_LEVEL", "Growth", "TreeCache", "TreeState", "at_head", "grow"]


@dataclass(slots=True)
class Growth:
    """What a batch stores of its sessions' trees."""

    nodes: list[NodeRow] = field(default_factory=list)
    trees: dict[str, TreeState] = field(default_factory=dict)  # each grown tree's new state

    def tree_rows(self) -> list[tuple[str, int, str]]:
        return [(sid, t.size, t.text()) for sid, t in self.trees.items()]


def at_head(
    ids: Iterable[str], heads: dict[str, int], stored: dict[str, TreeState]
) -> dict[str, TreeState]:
    """The trees a batch may grow: those at their log's head (a new session: the empty tree).

    Args:
        heads: each existing session's ``head_seq`` as the batch read it.
        stored: the ``merkle_trees`` rows of the batch's sessions.
    """
    out: dict[str, TreeState] = {}
    for sid in ids:
        tree = stored.get(sid)
        if sid not in heads:
            if tree is None:  # created by this batch, if at all
                out[sid] = TreeState(0, [])
        elif tree is not None and tree.size == heads[sid]:
            out[sid] = tree
    return out


def grow(outcomes: list[Any], trees: dict[str, TreeState]) -> Growth:
    """Append every committed entry of the sessions of ``trees``, in the batch's order.

    Each ``Committed`` that was grown gets its session's tree just before its
    entries as ``tree`` (the record keeper signs a boundary's checkpoint from
    it, after the commit).
    """
    out = Growth()
    ranges: dict[str, CompactRange] = {}
    for done in outcomes:
        if not isinstance(done, Committed) or not done.entries:
            continue
        sid = done.entries[0].session_id
        r = ranges.get(sid)
        if r is None:
            start = trees.get(sid)
            if start is None:
                continue
            r = ranges[sid] = CompactRange(start.size, start.frontier)
        before = TreeState(r.size, r.frontier)
        for e in done.entries:
            for level, idx, h in r.append(leaf_hash(e.hash)):
                if level >= STORED_LEVEL:
                    out.nodes.append((sid, level, idx, h))
        done.tree = before
    out.trees = {sid: TreeState(r.size, r.frontier) for sid, r in ranges.items()}
    return out


class TreeCache(Remembered[TreeState]):
    """The trees a backend last committed (PostgreSQL's fast path), least recently used out."""
