"""A session's Merkle tree as stored: its size and right edge (``courtroom_sessions.tree_*``).

The edge is kept in *blocks*: the complete subtrees of level ``STORED_LEVEL``
and up (one per set bit of ``size >> STORED_LEVEL``, largest first), then the
leaf hashes of the unfinished last block, in order (``size % 16`` of them),
32 bytes each, concatenated. An append is then one leaf hash and a
concatenation; the subtrees are folded once a block of 16 leaves completes
(``store/_tree.py``). ``range()`` turns it into RFC 6962's compact range.
"""

from __future__ import annotations

from typing import NamedTuple

from protocol.merkle import CompactRange

# Only nodes of this level and up are stored (one row per 8 entries, not two per
# entry): a node below it is rebuilt from the 16 entries of its block when a
# proof needs it (server/live/proofs.py), and the edge keeps that block's leaves.
STORED_LEVEL = 4
BLOCK = 1 << STORED_LEVEL


class TreeState(NamedTuple):
    """A tree's size and its right edge in blocks (the column's bytes, as stored).

    A tuple: the writer makes one per command.
    """

    size: int
    edge: bytes = b""

    def parts(self) -> tuple[list[bytes], list[bytes]]:
        """The edge's complete subtrees (level 4 and up) and the unfinished block's leaves."""
        e, cut = self.edge, 32 * (self.size >> STORED_LEVEL).bit_count()
        if len(e) != cut + 32 * (self.size % BLOCK):
            raise ValueError(f"a tree of {self.size} leaves has no edge of {len(e)} bytes")
        return [e[i : i + 32] for i in range(0, cut, 32)], [
            e[i : i + 32] for i in range(cut, len(e), 32)
        ]

    def range(self) -> CompactRange:
        upper, leaves = self.parts()
        r = CompactRange(self.size - len(leaves), upper)
        r.extend(leaves, STORED_LEVEL)
        return r

    @property
    def frontier(self) -> list[bytes]:
        """RFC 6962's right edge: one complete subtree per set bit of the size."""
        return self.range().frontier

    @staticmethod
    def stored(size: int, edge: bytes | memoryview | str | None) -> TreeState:
        """From the columns as read (an empty blob's default reads back as text on SQLite)."""
        return TreeState(int(size), bytes(edge) if isinstance(edge, bytes | memoryview) else b"")

    @staticmethod
    def of(r: CompactRange) -> TreeState:
        """A compact range that ends at a block's end (its edge has no unfinished block)."""
        if r.size % BLOCK:
            raise ValueError("only a range of whole blocks: the last block's leaves are not in it")
        return TreeState(r.size, b"".join(r.frontier))
