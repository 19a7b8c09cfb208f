"""The Merkle tree over a session's log (RFC 6962/9162 hashing and proofs).

The leaves are the chain v1 entry hashes, in sequence order (leaf index =
sequence number - 1): ``leaf = SHA-256(0x00 || entry hash bytes)`` and
``node = SHA-256(0x01 || left || right)``; the tree of ``n`` leaves is
RFC 6962's MTH, split at the largest power of two below ``n``.

A *complete node* ``(level, index)`` is the root of the aligned subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``. Every hash a proof needs
is a fold of complete nodes, so a store of complete nodes answers any proof in
O(log n) lookups (``proof_nodes`` lists them; one query fetches them all).
:class:`CompactRange` appends a leaf in amortised O(1) and reports the complete
nodes that the append created, so the store is kept without recomputing.

Pure stdlib: clients and offline verifiers import it.
"""

from __future__ import annotations

import hashlib
import hmac
from binascii import unhexlify
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Node = tuple[int, int]  # (level, index) of a complete node
NodeSource = Callable[[int, int], bytes]

_sha256 = hashlib.sha256
# Not ``bytes.fromhex``: that one skips whitespace and takes 245 ns for a chain
# hash against 91 (once a leaf, on the writer's path). An entry hash is 64 hex
# digits, with nothing to skip; bad hex raises ValueError from both.
_fromhex = unhexlify
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof was asked for sizes or indices that do not exist."""


def leaf_hash(entry_hash_hex: str) -> bytes:
    """RFC 6962 leaf hash of one log entry, from its chain v1 hash (64 hex digits)."""
    return _sha256(b"\x00" + _fromhex(entry_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def extend_py(
    edge: bytes,
    size: int,
    leaves: Iterable[Any],  # bytes; log entries with ``entries``
    min_level: int,
    created: list[Any],
    key: str | None = None,
    entries: bool = False,
) -> tuple[int, bytes]:
    """Append ``leaves`` to a tree of ``size`` leaves with right edge ``edge``.

    ``edge`` is the frontier's hashes concatenated, largest subtree first (32
    bytes per set bit of ``size``): the form the writer stores, so that a
    command's append neither splits nor joins it. The complete nodes the
    leaves create from ``min_level`` up go to ``created`` as ``(level, index,
    hash)``, or ``(key, level, index, hash)`` when a ``key`` is given; returns
    the new size and edge. A store that keeps only the upper levels asks for
    those alone, so the nodes below are never collected.

    With ``entries``, the items are log entries (anything whose ``hash`` is
    its chain v1 hash, 64 hex digits) and are hashed into leaves here: the
    batch writer's path, once a command, where a call of ``leaf_hash`` and a
    list of leaves or of hashes a command cost a quarter of it. Otherwise
    they are 32-byte leaf hashes. A wrong edge, leaf or hash raises
    ValueError (``created`` keeps what the items before it made).

    ``extend`` is this fold in C when the package was built with it
    (``protocol/_merkle_native.c``: the same arguments, results and errors).
    """
    if size < 0 or len(edge) != 32 * size.bit_count():
        raise ValueError("an edge has one 32-byte hash per set bit of the size")
    for h in leaves:
        if entries:
            h = _fromhex(h.hash)
            if len(h) != 32:
                raise ValueError("an entry's hash is 64 hex digits")
            h = _sha256(b"\x00" + h).digest()  # leaf_hash, inlined
        elif len(h) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        if min_level == 0:
            created.append((0, size, h) if key is None else (key, 0, size, h))
        level = 0
        while (size >> level) & 1:
            h = _sha256(b"\x01" + edge[-32:] + h).digest()
            edge = edge[:-32]
            level += 1
            if level >= min_level:
                i = size >> level
                created.append((level, i, h) if key is None else (key, level, i, h))
        edge += h
        size += 1
    return size, edge


def levels_py(hashes: bytes, leaves: bool, top: int | None = None) -> list[bytes]:
    """The complete nodes of a whole tree, level by level, each level one blob.

    ``hashes``: 32-byte hashes end to end; with ``leaves`` they are entries'
    hashes, hashed into leaves here, else they are the leaves (or any level,
    whose complete nodes above are wanted). Level ``k`` holds node ``i`` at
    ``[32 * i : 32 * i + 32]``; an odd last node has no parent yet. ``top``:
    at most that many levels above the first. The bundle verifier's tree.
    """
    if len(hashes) % 32:
        raise ValueError("hashes are 32 bytes each")
    sha = _sha256
    level = hashes
    if leaves:
        level = b"".join(
            sha(b"\x00" + hashes[i : i + 32]).digest() for i in range(0, len(hashes), 32)
        )
    out = [level]
    while len(level) > 32 and (top is None or len(out) <= top):
        level = b"".join(
            sha(b"\x01" + level[i : i + 64]).digest() for i in range(0, len(level) - 63, 64)
        )
        out.append(level)
    return out


def _native(name: str) -> Callable[..., Any] | None:
    try:
        from protocol import _merkle_native
    except ImportError:  # built without a C compiler or OpenSSL's headers
        return None
    fn: Callable[..., Any] = getattr(_merkle_native, name)
    return fn


# The fold the writer and the verifiers use: in C when built (two hashes an entry
# at ~0.1 us each, against ~1 us a hashlib call), else ``extend_py``; the same for
# a whole tree's levels.
extend_native = _native("extend")
extend = extend_py
if extend_native is not None:
    extend = extend_native
levels_native = _native("levels")
levels = levels_py if levels_native is None else levels_native


class CompactRange:
    """The right edge of the tree: one complete node per set bit of the size.

    ``append`` returns the complete nodes created by the new leaf (the leaf
    itself and every subtree it completes), ``root`` folds the frontier.
    """

    __slots__ = ("size", "edge")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if len(frontier) != size.bit_count() or any(len(h) != 32 for h in frontier):
            raise ValueError("a frontier has one 32-byte hash per set bit of the size")
        self.size = size
        self.edge = b"".join(frontier)  # largest subtree first (``extend``)

    @classmethod
    def from_edge(cls, size: int, edge: bytes) -> CompactRange:
        """From the edge as ``extend`` keeps it (the frontier's hashes concatenated)."""
        if len(edge) != 32 * size.bit_count():
            raise ValueError("an edge has one 32-byte hash per set bit of the size")
        r = cls()
        r.size, r.edge = size, edge
        return r

    @property
    def frontier(self) -> list[bytes]:
        e = self.edge
        return [e[i : i + 32] for i in range(0, len(e), 32)]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        return self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes], min_level: int = 0) -> list[tuple[int, int, bytes]]:
        """Append ``leaves`` in order; the complete nodes they created from ``min_level`` up."""
        created: list[tuple[int, int, bytes]] = []
        self.size, self.edge = extend(self.edge, self.size, leaves, min_level, created)
        return created

    def root(self) -> bytes:
        f = self.frontier
        if not f:
            return EMPTY_ROOT
        h = f[-1]
        for left in reversed(f[:-1]):
            h = node_hash(left, h)
        return h


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete nodes covering leaves ``[start, end)``, left to right, greedily largest."""
    out: list[Node] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while (1 << level) > end - start:
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of an RFC 6962 subtree from its complete nodes (``range_nodes`` order)."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees of RFC 6962 ``PATH(index, D[size])``, leaf level first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The subtrees of RFC 6962 ``PROOF(old, D[new])`` (SUBPROOF), in proof order."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from size {old} to {new}")
    out: list[tuple[int, int]] = []
    # SUBPROOF(m, D[lo:hi], b), unrolled; entries are appended innermost-last,
    # so collect the "after" parts on a stack (RFC order: inner proof first).
    after: list[tuple[int, int]] = []
    lo, hi, m, b = 0, new, old, True
    while True:
        n = hi - lo
        if m == n:
            if not b:
                out.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            after.append((lo + k, hi))
            hi = lo + k
        else:
            after.append((lo, lo + k))
            lo, m, b = lo + k, m - k, False
    out.extend(reversed(after))
    return out


def proof_nodes(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    """Every complete node the ranges need, each once (fetch these, then ``build_proof``)."""
    seen: dict[Node, None] = {}
    for a, b in ranges:
        for node in range_nodes(a, b):
            seen[node] = None
    return list(seen)


def build_proof(ranges: Iterable[tuple[int, int]], get: NodeSource) -> list[bytes]:
    return [fold([get(lv, i) for lv, i in range_nodes(a, b)]) for a, b in ranges]


def inclusion_proof(index: int, size: int, get: NodeSource) -> list[bytes]:
    return build_proof(inclusion_ranges(index, size), get)


def consistency_proof(old: int, new: int, get: NodeSource) -> list[bytes]:
    return build_proof(consistency_ranges(old, new), get)


def root_from(size: int, get: NodeSource) -> bytes:
    return EMPTY_ROOT if size == 0 else fold([get(lv, i) for lv, i in range_nodes(0, size)])


class MemoryTree:
    """Every complete node in memory: the tree of a bundle or of a test."""

    def __init__(self) -> None:
        self.compact = CompactRange()
        self.levels: list[list[bytes]] = []

    @property
    def size(self) -> int:
        return self.compact.size

    def append(self, leaf: bytes) -> None:
        for level, _, h in self.compact.append(leaf):
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(h)

    def get(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        return self.compact.root() if size is None else root_from(size, self.get)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        if size > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")
        return inclusion_proof(index, size, self.get)

    def consistency(self, old: int, new: int) -> list[bytes]:
        if new > self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {new}")
        return consistency_proof(old, new, self.get)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and hmac.compare_digest(old_root, new_root)
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
