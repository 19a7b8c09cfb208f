"""A stored Merkle tree's size and right edge (``merkle_trees``), as the writer and the keeper see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TreeState:
    """A stored tree: its size and its right edge (one hash per set bit of the size)."""

    size: int
    frontier: list[bytes]

    def text(self) -> str:
        return ",".join(h.hex() for h in self.frontier)

    @staticmethod
    def parse(size: int, text: str) -> TreeState:
        return TreeState(size, [bytes.fromhex(h) for h in text.split(",")] if text else [])
