"""A long bundle's chain and tree checked in ranges over forked processes, and the entry rows both passes read (clients/_bundle.py)."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import threading
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from protocol import (
    PartVerifier,
    canonical_details,
    join_parts,
)

COMPLETED = "SESSION_COMPLETED"


_ALIGN_LEVEL = 14  # ranges start at multiples of 2**14 leaves: their subtrees are the tree's


def _details_encoder() -> Callable[[Any], str]:
    """``canonical_details`` (``json.dumps(d, sort_keys=True)``) without its per-call set-up.

    ``json.dumps`` builds a C encoder on every call; this builds it once, with
    the arguments ``JSONEncoder.iterencode`` gives it (no circular check: the
    input comes from a JSON parser). ``tests/unit/test_bundle.py`` pins it to
    ``canonical_details``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python without the C accelerator
        return canonical_details
    enc = json.JSONEncoder(sort_keys=True)
    c = make(None, enc.default, encode_basestring_ascii, None, ": ", ", ", True, False, True)

    def encode(d: Any) -> str:
        return "".join(c(d, 0))

    return encode


_encode_details = _details_encoder()


def _not_an_object() -> str:
    raise TypeError("details must be an object")


def _rows(entries: list[Any]) -> list[tuple[Any, ...]] | None:
    """The eight hashed fields of each entry, or None if one is not even shaped like one."""
    try:
        rows = [
            (
                e["session_id"],
                e["sequence_number"],
                e["timestamp"],
                e["event_type"],
                e["actor_id"],
                _encode_details(d) if type(d := e["details"]) is dict else _not_an_object(),
                e["previous_hash"],
                e["hash"],
            )
            for e in entries
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if all(type(r[0]) is str and type(r[1]) is int for r in rows):
        return rows
    return None


def _tree_levels(hashes: list[str]) -> list[list[bytes]]:
    """Every complete node of the tree over ``hashes`` (RFC 6962), level by level."""
    sha = hashlib.sha256
    return _levels_above([sha(b"\x00" + bytes.fromhex(h)).digest() for h in hashes])


def _levels_above(level: list[bytes], top: int | None = None) -> list[list[bytes]]:
    """``level`` and the complete nodes above it (up to ``top`` levels more)."""
    sha = hashlib.sha256
    levels = [level]
    while len(level) > 1 and (top is None or len(levels) <= top):
        level = [
            sha(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)
        ]
        levels.append(level)
    return levels


_RangeOut = tuple[Any, list[bytes], int | None]  # (ChainPart, level blobs, completion index)


def _range_work(entries: list[Any], sid: str | None, lo: int, hi: int) -> _RangeOut | None:
    """Chain ``entries[lo:hi]`` on its own and build its subtrees up to ``_ALIGN_LEVEL``.

    None when an entry is not shaped like one (the careful single pass names it).
    """
    rows = _rows(entries[lo:hi])
    if rows is None:
        return None
    part = PartVerifier(sid)
    part.feed_rows(rows)
    done = part.part()
    if not done.result.valid:
        return done, [], None
    sha = hashlib.sha256
    leaves = [sha(b"\x00" + bytes.fromhex(r[7])).digest() for r in rows]
    blobs = [b"".join(level) for level in _levels_above(leaves, _ALIGN_LEVEL)]
    completed = next((lo + i for i, r in enumerate(rows) if r[3] == COMPLETED), None)
    return done, blobs, completed


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


def _parallel_chain(
    entries: list[Any], sid: str | None, workers: int
) -> tuple[list[str], list[list[bytes]], int | None] | None:
    """Hashes, tree levels and completion of a bundle whose every entry chains, else None.

    Ranges start at multiples of ``2**_ALIGN_LEVEL`` leaves, so each range's
    levels up to ``_ALIGN_LEVEL`` are slices of the whole tree's: joined, they
    are those levels, and the rest is built from them. Anything but a fully
    valid chain returns None: the single pass then reports it exactly.
    """
    n = len(entries)
    align = 1 << _ALIGN_LEVEL
    per = -(-n // workers)  # n / workers, rounded up
    chunk = -(-per // align) * align  # ... to a multiple of align
    ranges = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    if len(ranges) < 2:
        return None
    gc.freeze()  # the children must not touch every object's header
    try:
        outs = _fork_map(lambda lo, hi: _range_work(entries, sid, lo, hi), ranges)
    finally:
        gc.unfreeze()
    if any(o is None for o in outs):
        return None
    result = join_parts(sid, [o[0] for o in outs])
    if not result.valid or result.entries != n:
        return None
    depth = min(len(o[1]) for o in outs)
    levels: list[list[bytes]] = []
    for lv in range(depth):
        blob = b"".join(o[1][lv] for o in outs)
        levels.append([blob[i : i + 32] for i in range(0, len(blob), 32)])
    # The levels above the ranges' own (and any a short last range did not reach).
    upper = _levels_above(levels[-1])
    levels.extend(upper[1:])
    completed = next((c for o in outs if (c := o[2]) is not None), None)
    return [e["hash"] for e in entries], levels, completed


def _workers() -> int:
    """Processes for a long bundle: the CPU count, if this process may fork (no threads)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))
