"""Offline verification of a session bundle (record v2, docs/protocol.md "The bundle").

A bundle is one JSON object: ``format``, ``session_id``, ``status``, ``entries``
(the section 1 fields, in order), ``checkpoints`` (signed notes with their
fields) and ``keys`` (the public keys the checkpoints name). The verifier
checks, with nothing but the file and the trusted keys:

1. the chain v1 of every entry (the first bad sequence number);
2. every checkpoint: its note parses, its fields are the note's, it names this
   session, its key is trusted and its Ed25519 signature verifies, sizes rise
   and times do not go back (a replayed older checkpoint), and the Merkle root
   and chain head of the entries at its tree size are the signed ones (a cut
   tail, a forged or re-chained tail);
3. a completed session: the log holds ``SESSION_COMPLETED`` and a signed
   checkpoint at exactly that entry (the final checkpoint).

Trusted keys are the ``--key``/``--keys`` ones when given; otherwise the
bundle's own (reported as such: they prove consistency, not origin).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import hashlib
import json
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import orjson

from clients._errors import UnreadableExport
from protocol import (
    ChainVerifier,
    PartVerifier,
    VerifyResult,
    canonical_details,
    hashes_equal,
    join_parts,
)
from protocol.checkpoint import CheckpointError, key_id, parse_note, parse_verifier_key
from protocol.merkle import fold, range_nodes

FORMAT = "courtroom-bundle/1"
COMPLETED = "SESSION_COMPLETED"
# A bundle this long is chained and hashed into its tree in forked processes.
PARALLEL_MIN = 50_000
_ALIGN_LEVEL = 14  # ranges start at multiples of 2**14 leaves: their subtrees are the tree's

__all__ = ["BundleReport", "keys_from_document", "load_bundle", "verify_bundle"]


@dataclass(slots=True)
class BundleReport:
    session_id: str
    entries: int = 0
    checkpoints: int = 0
    signed_size: int = 0  # the largest tree size a verified checkpoint covers
    first_invalid_sequence: int | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "session_id": self.session_id,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "signed_size": self.signed_size,
            "first_invalid_sequence": self.first_invalid_sequence,
            "failures": self.failures,
            "notes": self.notes,
        }


def keys_from_document(doc: Any) -> dict[str, bytes]:
    """``{key id: public key}`` from a ``/.well-known/courtroom-keys`` document or a bundle's list.

    Every key is checked against its own id (name + public key), so a key list
    cannot claim another key's id.
    """
    items = doc.get("keys") if isinstance(doc, Mapping) else doc
    if not isinstance(items, list):
        raise UnreadableExport("no key list")
    out: dict[str, bytes] = {}
    for k in items:
        try:
            if "verifier_key" in k:
                name, public = parse_verifier_key(str(k["verifier_key"]))
            else:
                name, public = str(k["name"]), base64.b64decode(k["public_key"], validate=True)
        except (CheckpointError, KeyError, TypeError, binascii.Error):
            raise UnreadableExport(f"not a public key: {k!r}") from None
        out[key_id(name, public)] = public
    return out


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of small dicts and no cycles: the cyclic collector would only rescan them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_bundle(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableExport(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with _no_gc():
            doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits, which a log may hold: the
        # standard module reads every integer and string exactly as hashed.
        try:
            doc = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadableExport(f"not a JSON bundle ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UnreadableExport(f"not a {FORMAT} file")
    return doc


def _sorted_checkpoints(raw: Iterable[Any], report: BundleReport) -> list[tuple[int, Any]]:
    out = []
    for i, c in enumerate(raw):
        try:
            signed = parse_note(str(c["note"]))
        except (CheckpointError, KeyError, TypeError):
            report.failures.append(f"checkpoint {i + 1}: not a signed checkpoint note")
            continue
        cp = signed.checkpoint
        fields = {
            "session_id": cp.session_id,
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash.hex(),
            "chain_head": cp.chain_head,
            "time": cp.time,
            "key_id": signed.key_id,
        }
        if any(c.get(k) != v for k, v in fields.items()):
            report.failures.append(
                f"checkpoint {i + 1} (size {cp.tree_size}): its fields differ from its signed note"
            )
        out.append((i + 1, signed))
    return out


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


def _chain_entries(chain: ChainVerifier, entries: list[Any]) -> list[str]:
    """Feed every entry to ``chain``; the hashes of those that chained, in order."""
    rows = _rows(entries)  # None: the careful path below names the entry
    if rows is not None:
        chain.feed_rows(rows)
        good = chain.result().entries - (0 if chain.result().valid else 1)
        return [r[7] for r in rows[:good]]
    out: list[str] = []
    for raw in entries:
        entry = raw if isinstance(raw, dict) else {}
        if not chain.feed(entry):
            break
        out.append(entry["hash"])
    return out


def _not_an_object() -> str:
    raise TypeError("details must be an object")


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


# -- chain and tree in ranges (forked processes) -------------------------------------

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


def verify_bundle(
    doc: Mapping[str, Any],
    trusted: Mapping[str, bytes] | None = None,
    *,
    require_complete: bool = False,
    workers: int | None = None,
) -> BundleReport:
    """Verify a loaded bundle; ``trusted``: key id → public key (default: the bundle's keys).

    ``require_complete``: the auditor knows the session ended, so the bundle
    must reach its final checkpoint whatever its (unsigned) ``status`` says.
    ``workers``: processes for a bundle of ``PARALLEL_MIN`` entries or more
    (default: the CPU count when this process has no other thread); the report
    is the same with any number.
    """
    sid = str(doc.get("session_id", ""))
    report = BundleReport(sid)
    if trusted is None:
        try:
            trusted = keys_from_document(doc.get("keys", []))
        except UnreadableExport as exc:
            report.failures.append(f"keys: {exc}")
            trusted = {}
        report.notes.append(
            "keys taken from the bundle itself (pass --key or --keys to check who signed)"
        )
    checkpoints = _sorted_checkpoints(doc.get("checkpoints") or [], report)
    report.checkpoints = len(checkpoints)

    # Signatures, sessions, order.
    last_size, last_time = 0, ""
    for n, s in checkpoints:
        cp = s.checkpoint
        where = f"checkpoint {n} (size {cp.tree_size})"
        if cp.session_id != sid:
            report.failures.append(f"{where}: signed for session {cp.session_id}, not {sid}")
        public = trusted.get(s.key_id)
        if public is None:
            report.failures.append(f"{where}: signed by key {s.key_id}, which is not trusted")
        elif not s.verify(public):
            report.failures.append(f"{where}: the signature does not verify")
        if cp.tree_size <= last_size:
            report.failures.append(
                f"{where}: not after the checkpoint of size {last_size} (replayed or reordered)"
            )
        elif cp.time < last_time:
            report.failures.append(
                f"{where}: signed at {cp.time}, before the previous one ({last_time}): replayed"
            )
        last_size, last_time = max(last_size, cp.tree_size), max(last_time, cp.time)

    # Entries: chain v1 first (fast path over tuples), then the tree over the
    # entries that chained, then each checkpoint against its prefix.
    entries = doc.get("entries")
    if not isinstance(entries, list):
        report.failures.append("the bundle has no entry list")
        entries = []
    chain = ChainVerifier(sid or None)
    workers = _workers() if workers is None else workers
    with _no_gc():
        fast = None
        if workers > 1 and len(entries) >= PARALLEL_MIN:
            fast = _parallel_chain(entries, sid or None, workers)
        completed_at: int | None = None
        if fast is not None:
            hashes, levels, done = fast
            result = VerifyResult(True, len(hashes), hashes[-1], None)
            completed_at = None if done is None else done + 1
        else:
            hashes = _chain_entries(chain, entries)
            result = chain.result()
            levels = _tree_levels(hashes)
            for i, e in enumerate(entries[: len(hashes)]):
                if e.get("event_type") == COMPLETED:
                    completed_at = i + 1
                    break
    for n, s in checkpoints:
        cp = s.checkpoint
        if not 0 < cp.tree_size <= len(hashes):
            continue
        root = fold([levels[lv][ix] for lv, ix in range_nodes(0, cp.tree_size)])
        if not hashes_equal(cp.chain_head, hashes[cp.tree_size - 1]) or cp.root_hash != root:
            report.failures.append(
                f"checkpoint {n} (size {cp.tree_size}) contradicts the entries:"
                f" entries 1..{cp.tree_size} are not the ones it signed"
            )
        elif s.key_id in trusted and s.verify(trusted[s.key_id]):
            report.signed_size = max(report.signed_size, cp.tree_size)
    report.entries = result.entries if result.valid else result.entries - 1
    if not result.valid:
        report.first_invalid_sequence = result.first_invalid_sequence
        report.failures.insert(
            0,
            f"entry #{result.first_invalid_sequence}: the chain breaks here (edited, inserted,"
            " deleted or reordered)",
        )
    beyond = [(n, s) for n, s in checkpoints if s.checkpoint.tree_size > report.entries]
    if result.valid:
        for n, s in beyond:
            report.failures.append(
                f"checkpoint {n} signs {s.checkpoint.tree_size} entries but the bundle has"
                f" {report.entries}: the tail was cut"
            )

    # Completion.
    status = doc.get("status")
    if result.valid:
        if (status == "completed" or require_complete) and completed_at is None:
            report.failures.append("the session is completed but its log has no SESSION_COMPLETED")
        if completed_at is not None and not any(
            s.checkpoint.tree_size == completed_at for _, s in checkpoints
        ):
            report.failures.append(
                f"no signed checkpoint at the completion (entry #{completed_at}):"
                " the final checkpoint is missing"
            )
        elif completed_at is not None and report.signed_size < completed_at:
            report.failures.append(f"the final checkpoint (entry #{completed_at}) does not verify")
    if report.entries > report.signed_size and report.valid:
        report.notes.append(
            f"entries {report.signed_size + 1}..{report.entries} come after the last signed"
            " checkpoint (chained, not yet signed)"
        )
    return report
