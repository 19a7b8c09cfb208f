"""A long bundle's chain and tree checked in ranges over forked processes (clients/_bundle.py)."""

from __future__ import annotations

import gc
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from clients._bundle_lines import RowLines
from clients._bundle_rows import rows_v1, shaped_v2
from protocol import PartVerifier, first_noncanonical, join_parts
from protocol.merkle import levels

COMPLETED = "SESSION_COMPLETED"


_ALIGN_LEVEL = 14  # ranges start at multiples of 2**14 leaves: their subtrees are the tree's


def tree_levels(digests: list[bytes], top: int | None = None) -> list[bytes]:
    """The complete nodes of the tree over the entries' 32-byte hashes (RFC 6962), level
    by level, each level one blob (``protocol.merkle.levels``: in C where it was built)."""
    return levels(b"".join(digests), True, top)


# (ChainPart, level blobs, completion index, {tree size: entry hash} of its checkpoints)
_RangeOut = tuple[Any, list[bytes], int | None, dict[int, str]]


def _entries_of(source: list[Any] | RowLines, version: int, lo: int, hi: int) -> list[Any] | None:
    """Rows of entries ``lo..hi-1`` (the eight hashed fields), or None if one is not shaped so."""
    if isinstance(source, RowLines):
        rows = source.rows(lo, hi)
    elif version == 1:
        return rows_v1(source[lo:hi])
    else:
        rows = source[lo:hi]
    if rows is None or shaped_v2(rows) < len(rows):
        return None
    return rows


def _range_work(
    source: list[Any] | RowLines, version: int, sid: str | None, sizes: set[int], lo: int, hi: int
) -> _RangeOut | None:
    """Chain entries ``lo..hi-1`` on their own and build their subtrees up to ``_ALIGN_LEVEL``.

    None when an entry is not shaped like one, or (version 2) a details text is
    not canonical: the careful single pass names it.
    """
    rows = _entries_of(source, version, lo, hi)
    if rows is None or (version == 2 and first_noncanonical([r[5] for r in rows]) is not None):
        return None
    part = PartVerifier(sid)
    digests: list[bytes] = []
    part.feed_rows(rows, digests)
    done = part.part()
    if not done.result.valid:
        return done, [], None, {}
    blobs = tree_levels(digests, _ALIGN_LEVEL)
    completed = next((lo + i for i, r in enumerate(rows) if r[3] == COMPLETED), None)
    heads = {size: rows[size - 1 - lo][7] for size in sizes if lo < size <= hi}
    return done, blobs, completed, heads


def _fork_map(work: Callable[[int, int], Any], ranges: list[tuple[int, int]]) -> list[Any]:
    """``work`` over each range: the first here, the others in forked children.

    Forking shares the parsed bundle with the children (copy on write) instead
    of sending it to them; only their small results come back through a pipe.
    A child that fails yields None.
    """
    children = []
    for lo, hi in ranges[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            code = 1
            try:
                os.close(r)
                data = pickle.dumps(work(lo, hi), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(w, "wb") as out:
                    out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    results = [work(*ranges[0])]
    for pid, r in children:
        with os.fdopen(r, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        results.append(pickle.loads(data) if status == 0 and data else None)
    return results


class Chained(NamedTuple):
    """What the ranges found of a bundle whose every entry chains."""

    entries: int
    levels: list[bytes]  # the tree's complete nodes, level by level, each level a blob
    completed: int | None  # index of the first SESSION_COMPLETED
    heads: dict[int, str]  # the entry hash at each checkpoint's tree size


def parallel_chain(
    source: list[Any] | RowLines, version: int, sid: str | None, workers: int, sizes: set[int]
) -> Chained | None:
    """Tree levels, completion and checkpoint heads of a bundle whose every entry chains, else None.

    Ranges start at multiples of ``2**_ALIGN_LEVEL`` leaves, so each range's
    levels up to ``_ALIGN_LEVEL`` are slices of the whole tree's: joined, they
    are those levels, and the rest is built from them. Anything but a fully
    valid chain returns None: the single pass then reports it exactly.
    """
    n = len(source)
    align = 1 << _ALIGN_LEVEL
    per = -(-n // workers)  # n / workers, rounded up
    chunk = -(-per // align) * align  # ... to a multiple of align
    ranges = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    if len(ranges) < 2:
        return None
    gc.freeze()  # the children must not touch every object's header
    try:
        outs = _fork_map(lambda lo, hi: _range_work(source, version, sid, sizes, lo, hi), ranges)
    finally:
        gc.unfreeze()
    if any(o is None for o in outs):
        return None
    result = join_parts(sid, [o[0] for o in outs])
    if not result.valid or result.entries != n:
        return None
    depth = min(len(o[1]) for o in outs)
    tree = [b"".join(o[1][lv] for o in outs) for lv in range(depth)]
    # The levels above the ranges' own (and any a short last range did not reach).
    tree.extend(levels(tree[-1], False, None)[1:])
    completed = next((c for o in outs if (c := o[2]) is not None), None)
    return Chained(n, tree, completed, {k: v for o in outs for k, v in o[3].items()})


def _workers() -> int:
    """Processes for a long bundle: the CPU count, if this process may fork (no threads)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))
