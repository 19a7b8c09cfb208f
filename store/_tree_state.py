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
        """From the columns as read."""
        return TreeState(int(size), stored_edge(edge))

    @staticmethod
    def of(r: CompactRange) -> TreeState:
        return TreeState(r.size, r.edge)


def stored_edge(edge: bytes | memoryview | str | None) -> bytes:
    """The edge column as read: bytes (an empty blob's default reads back as text on SQLite)."""
    if type(edge) is bytes:  # the common case first: this runs for every row a batch locks
        return edge
    return bytes(edge) if isinstance(edge, memoryview) else b""
