"""A session's Merkle tree as stored: its size and right edge (``courtroom_sessions.tree_*``)."""

from __future__ import annotations

from typing import NamedTuple

from protocol.merkle import CompactRange


class TreeState(NamedTuple):
    """A tree's size and its right edge: one 32-byte hash per set bit of the size,
    largest subtree first, concatenated (the column's bytes, as stored).

    A tuple: the writer makes one per command.
    """

    size: int
    edge: bytes = b""

    @property
    def frontier(self) -> list[bytes]:
        return self.range().frontier

    def range(self) -> CompactRange:
        return CompactRange.from_edge(self.size, self.edge)

    @staticmethod
    def stored(size: int, edge: bytes | memoryview | str | None) -> TreeState:
        """From the columns as read (an empty blob's default reads back as text on SQLite)."""
        return TreeState(int(size), bytes(edge) if isinstance(edge, bytes | memoryview) else b"")

    @staticmethod
    def of(r: CompactRange) -> TreeState:
        return TreeState(r.size, r.edge)
