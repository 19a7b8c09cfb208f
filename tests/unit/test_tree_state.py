"""The tree's edge in blocks (``store/_tree_state.py``) and the writer's ``grow``.

Checked against ``CompactRange`` appending leaf by leaf (itself checked
against an RFC 6962 transcription in ``test_merkle.py``).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from protocol.merkle import CompactRange, leaf_hash
from store import STORED_LEVEL, NodeRow, TreeState, grow


def _entry(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 20), max_size=12))
def test_grow_in_any_chunks_is_the_rfc_tree(chunks: list[int]) -> None:
    reference = CompactRange()
    tree, nodes, expected = TreeState(0), list[NodeRow](), list[NodeRow]()
    n = 0
    for k in chunks:
        hashes = [_entry(i) for i in range(n, n + k)]
        tree = grow("s", tree, hashes, nodes)
        for h in hashes:
            created = reference.append(leaf_hash(h))
            expected += [("s", *c) for c in created if c[0] >= STORED_LEVEL]
        n += k
        assert tree.size == reference.size == n
        assert tree.frontier == reference.frontier
        assert tree.range().root() == reference.root()
        upper, leaves = tree.parts()
        assert len(leaves) == n % 16 and len(upper) == (n >> 4).bit_count()
    assert nodes == expected


def test_an_edge_of_the_wrong_length_is_refused() -> None:
    tree = grow("s", TreeState(0), [_entry(i) for i in range(21)], [])
    with pytest.raises(ValueError):
        TreeState(21, tree.edge[:-32]).range()
    with pytest.raises(ValueError):
        TreeState(22, tree.edge).range()


def test_only_whole_blocks_come_from_a_compact_range() -> None:
    r = CompactRange()
    for i in range(32):
        r.append(leaf_hash(_entry(i)))
    assert TreeState.of(r) == grow("s", TreeState(0), [_entry(i) for i in range(32)], [])
    r.append(leaf_hash(_entry(32)))
    with pytest.raises(ValueError):
        TreeState.of(r)
