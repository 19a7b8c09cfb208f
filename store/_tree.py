"""The Merkle tree of each log, grown inside the batch writer's transaction (issue 11).

A session's tree lives in its own row: ``tree_size`` and ``tree_frontier``
(the right edge, ``store/_tree_state.py``), read under the row's lock with the
head and written back with it, in the same statement. The planner grows a
tree as it chains each command's entries (``store/_plan.py``), so a committed
entry is always in the stored tree, and a rolled-back batch leaves no node
behind; besides the row, a batch stores only the complete nodes of level
``STORED_LEVEL`` and up (one row per 32 entries).

The writer grows a tree only while it stands at its log's head
(``tree_size == head_seq``); a tree left behind (a database from before this
path, a lost tree) is caught up from the log by the record keeper, under the
same lock, and the writer takes it over once it reaches the head. No I/O here.
"""

from __future__ import annotations

from protocol.merkle import extend
from store._entries import LogEntry
from store._tree_state import TreeState

# Only nodes of this level and up are stored (one row per 32 entries, not two per
# entry): a node below it is rebuilt from the 64 entries of its block when a
# proof needs it (server/live/proofs.py). Level 6, not 4: a fifth less of the
# tree's instructions a command, and a batch of 64 sessions touches ~2 pages
# of the node index instead of ~8; a proof reads and hashes 64 entries a block.
# Raising it is safe for an existing database (its trees hold every level from
# the old one up); lowering it is not (proofs would miss the levels between).
STORED_LEVEL = 6

NodeRow = tuple[str, int, int, bytes]  # session_id, level, idx, hash
__all__ = ["STORED_LEVEL", "NodeRow", "TreeState", "grow"]


def grow(
    session_id: str, size: int, edge: bytes, entries: list[LogEntry], nodes: list[NodeRow]
) -> tuple[int, bytes]:
    """The tree of ``size`` leaves and right ``edge`` with the entries appended, in
    order: its new size and edge.

    Plain values in and out, no ``TreeState``: this runs once a command, and a
    named tuple's constructor costs as much as the rest of the glue. The
    stored nodes it completes are added to ``nodes``; the leaves are hashed
    from the entries' chain hashes inside ``extend``'s loop (no list of them
    or of the hashes, no call a leaf).
    """
    return extend(edge, size, entries, STORED_LEVEL, nodes, session_id, True)
