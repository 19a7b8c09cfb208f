"""The Merkle tree and checkpoints against the RFCs, written here independently.

``_mth``/``_path``/``_proof`` below transcribe RFC 6962 section 2.1 literally
(recursive, no shared code with protocol/merkle.py), so the vectors check the
project's incremental tree and proofs against the specification itself.
"""

from __future__ import annotations

import base64
import hashlib
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from protocol.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    parse_note,
    parse_verifier_key,
    public_key_bytes,
    sign,
    verifier_key,
)
from protocol.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    extend_native,
    extend_py,
    leaf_hash,
    levels_native,
    levels_py,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.native_helpers import built


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + _mth(d[:k]) + _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return _path(m, d[:k]) + [_mth(d[k:])]
    return _path(m - k, d[k:]) + [_mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = _k(n)
    if m <= k:
        return _subproof(m, d[:k], b) + [_mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [_mth(d[:k])]


# Both folds, the C one where it was built (tests/unit/test_merkle_native.py
# fails in CI when it was not): each against the RFC's definitions here.
FOLDS = [pytest.param(extend_py, id="python")] + (
    [] if extend_native is None else [pytest.param(extend_native, id="c")]
)


def _entry(i: int) -> str:
    """A stand-in chain v1 hash for entry ``i`` (0-based)."""
    return hashlib.sha256(f"entry {i}".encode()).hexdigest()


def _tree(n: int) -> tuple[MemoryTree, list[bytes]]:
    tree = MemoryTree()
    data = [bytes.fromhex(_entry(i)) for i in range(n)]
    for i in range(n):
        tree.append(leaf_hash(_entry(i)))
    return tree, data


def test_leaf_and_node_hash_vectors() -> None:
    # RFC 6962: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r).
    zeros = "00" * 32
    assert leaf_hash(zeros).hex() == _h(b"\x00" + bytes(32)).hex()
    assert (
        leaf_hash(zeros).hex() == "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"
    )
    a, b = leaf_hash(zeros), leaf_hash("11" * 32)
    assert node_hash(a, b) == _h(b"\x01" + a + b)
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_seven_leaf_tree_proofs_match_the_rfc() -> None:
    tree, data = _tree(7)
    for size in range(1, 8):
        assert tree.root(size) == _mth(data[:size])
        for m in range(size):
            proof = tree.inclusion(m, size)
            assert proof == _path(m, data[:size])
            leaf = leaf_hash(data[m].hex())
            assert verify_inclusion(leaf, m, size, proof, _mth(data[:size]))
        for old in range(1, size + 1):
            proof = tree.consistency(old, size)
            assert proof == _subproof(old, data[:size], True)
            assert verify_consistency(old, size, _mth(data[:old]), _mth(data[:size]), proof)
    # The vector pinned in docs/protocol.md.
    assert tree.root().hex() == SEVEN_ROOT
    assert [p.hex() for p in tree.inclusion(5, 7)] == SEVEN_INCLUSION_5
    assert [p.hex() for p in tree.consistency(3, 7)] == SEVEN_CONSISTENCY_3


SEVEN_ROOT = "a46ba227309ecd540496655979c3d06fd62487c827baa104ec0eeebd0d6586f8"
SEVEN_INCLUSION_5 = [
    "4c1d46fd317d5053ab2c884744baa029980d86033be8492251383f7da1f0de5c",
    "484563674796344464d329e0c55d96aac68186e783637211c9dd2a0652c4b83f",
    "986816175fd285c8fe6f99a746115b286b91500dc47f5a407182ea30cb4d9e88",
]
SEVEN_CONSISTENCY_3 = [
    "a76639395ce0db5d51a8d73ffb1fd1fdea5598ebcee2ca10da3fa2ec1f09c7a7",
    "24665e3a9be096bd4b2d43cdc2dbfeeee189a43ef69bb6fc9ca893e0162b97b9",
    "0cdc5e54ca58a1acf1b1345d4a06ff917c7bbf147b190a073583e3a8a4a2d00e",
    "194dcf4c2a80dc636ae6bcc512a8664c320b29a39fde9846cb5cb55b6f39b5be",
]


def test_compact_range_reports_complete_nodes_and_resumes_from_its_frontier() -> None:
    c = CompactRange()
    created = [c.append(leaf_hash(_entry(i))) for i in range(4)]
    assert [[(lv, i) for lv, i, _ in nodes] for nodes in created] == [
        [(0, 0)],
        [(0, 1), (1, 0)],
        [(0, 2)],
        [(0, 3), (1, 1), (2, 0)],
    ]
    resumed = CompactRange(c.size, c.frontier)
    for i in range(4, 11):
        c.append(leaf_hash(_entry(i)))
        resumed.append(leaf_hash(_entry(i)))
    assert resumed.root() == c.root() == _mth([bytes.fromhex(_entry(i)) for i in range(11)])
    with pytest.raises(ValueError):
        CompactRange(3, [EMPTY_ROOT])


@pytest.mark.parametrize("fold", FOLDS)
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 70), st.lists(st.integers(1, 9), max_size=8), st.integers(0, 5))
def test_extend_in_chunks_is_appending_leaf_by_leaf(
    fold: Any, start: int, chunks: list[int], min_level: int
) -> None:
    """The writer's ``extend`` (a command's entries at once, upper levels only) is
    appending leaf by leaf, and its tree's root is RFC 6962's MTH."""
    one = CompactRange()
    for i in range(start):
        one.append(leaf_hash(_entry(i)))
    size, edge = one.size, one.edge
    n = start
    expected: list[tuple[int, int, bytes]] = []
    got: list[tuple[int, int, bytes]] = []
    for k in chunks:
        leaves = [leaf_hash(_entry(i)) for i in range(n, n + k)]
        expected += [node for leaf in leaves for node in one.append(leaf) if node[0] >= min_level]
        size, edge = fold(edge, size, leaves, min_level, got)
        n += k
        assert size == one.size == n and edge == one.edge
    assert got == expected
    root = CompactRange.from_edge(size, edge).root()
    assert root == _mth([bytes.fromhex(_entry(i)) for i in range(n)])


@pytest.mark.parametrize("fold", FOLDS)
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 70), st.integers(1, 20), st.integers(0, 5))
def test_extend_from_entry_hashes_with_a_key_is_extend_from_their_leaves(
    fold: Any, start: int, k: int, min_level: int
) -> None:
    """The batch writer's form: log entries in (their hashes hashed into leaves inside),
    nodes keyed."""
    first = [leaf_hash(_entry(i)) for i in range(start)]
    size, edge = fold(b"", 0, first, 0, [])
    plain: list[tuple[int, int, bytes]] = []
    keyed: list[tuple[str, int, int, bytes]] = []
    hexes = [_entry(i) for i in range(start, start + k)]
    want = fold(edge, size, [leaf_hash(h) for h in hexes], min_level, plain)
    entries = [SimpleNamespace(hash=h) for h in hexes]  # anything with the chain hash
    assert fold(edge, size, entries, min_level, keyed, "s", True) == want
    assert keyed == [("s", *node) for node in plain]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_proof_verifies_and_every_mutation_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300))
    tree, _ = _tree(size)
    root = tree.root()
    m = data.draw(st.integers(0, size - 1))
    leaf = leaf_hash(_entry(m))
    proof = tree.inclusion(m, size)
    assert verify_inclusion(leaf, m, size, proof, root)
    old = data.draw(st.integers(1, size))
    cproof = tree.consistency(old, size)
    old_root = tree.root(old)
    assert verify_consistency(old, size, old_root, root, cproof)
    # Mutations: a flipped bit, a dropped or extra node, another index or size.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_inclusion(leaf, m, size, bad, root)
        assert not verify_inclusion(leaf, m, size, proof[:-1], root)
    assert not verify_inclusion(leaf, m, size, [*proof, root], root)
    if size > 1:
        assert not verify_inclusion(leaf, (m + 1) % size, size, proof, root)
    assert not verify_inclusion(leaf_hash(_entry(size + 5)), m, size, proof, root)
    if cproof:
        j = data.draw(st.integers(0, len(cproof) - 1))
        bad = list(cproof)
        bad[j] = bytes([bad[j][0] ^ 0x80]) + bad[j][1:]
        assert not verify_consistency(old, size, old_root, root, bad)
        assert not verify_consistency(old, size, old_root, root, cproof[1:])
    if old < size:
        assert not verify_consistency(old, size, tree.root(old + 1), root, cproof)
        assert not verify_consistency(old, size, old_root, tree.root(size - 1), cproof)


# ---- checkpoints -----------------------------------------------------------

SEED = bytes(range(32))  # the test vector's private key (never a real key)


def _vector() -> Checkpoint:
    tree, _ = _tree(7)
    return Checkpoint(
        session_id="9f0c5a1e-3d4b-4c2a-8e7f-0123456789ab",
        tree_size=7,
        root_hash=tree.root(),
        chain_head=_entry(6),
        time="2026-12-02T14:30:00.000000+00:00",
    )


def test_checkpoint_text_vector() -> None:
    cp = _vector()
    root_b64 = base64.b64encode(cp.root_hash).decode()
    assert (
        cp.body()
        == (
            "courtroom/session/9f0c5a1e-3d4b-4c2a-8e7f-0123456789ab\n"
            "7\n"
            f"{root_b64}\n"
            f"chain {_entry(6)}\n"
            "time 2026-12-02T14:30:00.000000+00:00\n"
        ).encode()
    )
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    signed = sign(cp, key, "courtroom")
    public = public_key_bytes(key.public_key())
    assert signed.key_id == key_id("courtroom", public) == VECTOR_KEY_ID
    assert verifier_key("courtroom", public) == VECTOR_VERIFIER_KEY
    assert signed.note() == VECTOR_NOTE  # Ed25519 is deterministic
    assert signed.verify(public)
    parsed = parse_note(signed.note())
    assert parsed == signed
    assert parse_verifier_key(VECTOR_VERIFIER_KEY) == ("courtroom", public)


VECTOR_KEY_ID = "fe0af3c6"
VECTOR_VERIFIER_KEY = "courtroom+fe0af3c6+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
VECTOR_NOTE = (
    "courtroom/session/9f0c5a1e-3d4b-4c2a-8e7f-0123456789ab\n"
    "7\n"
    "pGuiJzCezVQElmVZecPQb9Ykh8gnuqEE7A7uvQ1lhvg=\n"
    "chain 106c411261819e5a35192eab47324d72ae3caf362762d66613aa74cdc1c2a993\n"
    "time 2026-12-02T14:30:00.000000+00:00\n"
    "\n"
    "\u2014 courtroom /grzxq0KLuYC/1wJBFLtqObb1f7+UqBVVEJ1nHxgeV+0Xoi/sn/79JrW0ZqF5pwNUkdoaYAZS95ZSkQr"
    "hJFz/s4WgAc=\n"
)


def test_a_changed_byte_or_another_key_fails_verification() -> None:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    public = public_key_bytes(key.public_key())
    signed = sign(_vector(), key, "courtroom")
    note = signed.note()
    for old, new in (("\n7\n", "\n6\n"), ("time 2026", "time 2025"), ("chain ", "chain 0")):
        if old == "chain ":
            mutated = note.replace(f"chain {_entry(6)}", f"chain {_entry(5)}")
        else:
            mutated = note.replace(old, new, 1)
        assert not parse_note(mutated).verify(public)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert not sign(_vector(), other, "courtroom").verify(public)
    for junk in ("", "hello\n", note.replace("\n\n", "\n"), note.replace("\u2014", "-")):
        with pytest.raises(CheckpointError):
            parse_note(junk)
    with pytest.raises(CheckpointError):
        parse_verifier_key("courtroom+00000000+" + base64.b64encode(b"\x01" + public).decode())


@pytest.mark.parametrize("impl", ["python", "c"])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 8, 13, 16, 33])
def test_a_whole_trees_levels_are_its_complete_subtrees(impl: str, n: int) -> None:
    """Node i of level k is the RFC's MTH of entries i*2^k .. (i+1)*2^k - 1."""
    fn = built(levels_py if impl == "python" else levels_native, "protocol._merkle_native")
    d = [_h(b"entry %d" % i) for i in range(n)]
    got = fn(b"".join(d), True, None)
    assert len(got) == max(1, n.bit_length())
    for k, blob in enumerate(got):
        assert len(blob) == 32 * (n >> k)
        for i in range(n >> k):
            assert blob[32 * i : 32 * i + 32] == _mth(d[i << k : (i + 1) << k])
    # Built from its leaves rather than from the entries' hashes: the same levels.
    assert fn(got[0], False, None) == got
    # At most ``top`` levels above the first.
    assert fn(b"".join(d), True, 1) == got[:2]
