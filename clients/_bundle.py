"""Offline verification of a session bundle (record v2, docs/protocol.md "The bundle").

A bundle is one JSON object: ``format``, ``session_id``, ``status``, ``entries``
(in order), ``checkpoints`` (signed notes with their fields) and ``keys`` (the
public keys the checkpoints name). Format 2 (what export writes) gives each
entry as the array of the eight hashed fields, ``details`` as the canonical
text that was hashed; format 1 (still read) as an object with ``details`` an
object. The verifier checks, with nothing but the file and the trusted keys:

1. the chain v1 of every entry (the first bad sequence number; in format 2 a
   details text that is not canonical breaks the chain too);
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
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from clients._bundle_lines import RowLines, split_rows
from clients._bundle_ranges import COMPLETED, _workers, parallel_chain, tree_levels
from clients._bundle_rows import feed_v2, rows_v1
from clients._errors import UnreadableExport
from protocol import (
    ChainVerifier,
    VerifyResult,
    hashes_equal,
)
from protocol.bundle import FORMAT, FORMAT_V1, FORMATS
from protocol.checkpoint import (
    CheckpointError,
    SignedCheckpoint,
    key_id,
    parse_note,
    parse_verifier_key,
)
from protocol.merkle import fold, range_nodes

# A bundle this long is chained and hashed into its tree in forked processes.
PARALLEL_MIN = 50_000

__all__ = [
    "BundleReport",
    "checked_bundle",
    "keys_from_document",
    "load_bundle",
    "parse_bundle",
    "parse_json",
    "verify_bundle",
]


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
    """The bundle in the file at ``path``, as :func:`parse_bundle` reads it."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableExport(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_bundle(text)


def parse_bundle(text: bytes) -> dict[str, Any]:
    """The bundle, parsed; a long format 2 bundle laid out as export writes it keeps its
    rows unparsed (``RowLines``), for the processes that verify them to parse.

    Raises:
        UnreadableExport: ``text`` is not one JSON document, or not a bundle's.
    """
    split = split_rows(text) if len(text) > PARALLEL_MIN * 100 else None
    if split is not None and split[0].get("format") == FORMAT and len(split[1]) >= PARALLEL_MIN:
        doc, lines = split
        doc["entries"] = lines
        return doc
    try:
        doc = parse_json(text)
    except ValueError as exc:
        raise UnreadableExport(f"not a JSON bundle ({exc})") from None
    return checked_bundle(doc)


def parse_json(text: bytes | memoryview) -> Any:
    """One JSON document, with no cyclic collection while its objects are made.

    Raises:
        ValueError: not text (``UnicodeDecodeError``) or not JSON
            (``json.JSONDecodeError``: its ``pos`` counts the characters of its ``doc``).
    """
    try:
        with _no_gc():
            return orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses NaN and lone surrogates, which the standard module reads.
        return json.loads(bytes(text))


def checked_bundle(doc: Any) -> dict[str, Any]:
    """``doc`` if it is a bundle in a format this verifier reads.

    Raises:
        UnreadableExport: another document, or another format.
    """
    if not isinstance(doc, dict) or doc.get("format") not in FORMATS:
        raise UnreadableExport(f"not a {FORMAT} (or {FORMAT_V1}) file")
    return doc


def parse_checkpoint(c: Any) -> SignedCheckpoint:
    """The signed note of a checkpoint as JSON (``/checkpoints``, a bundle, a receipt).

    Raises:
        CheckpointError: it holds no signed checkpoint note.
    """
    try:
        return parse_note(str(c["note"]))
    except (KeyError, TypeError):
        raise CheckpointError("not a signed checkpoint note") from None


def matches_note(c: Mapping[str, Any], signed: SignedCheckpoint) -> bool:
    """Whether the checkpoint's JSON fields say what its signed note says (only the note is signed)."""
    cp = signed.checkpoint
    fields = {
        "session_id": cp.session_id,
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash.hex(),
        "chain_head": cp.chain_head,
        "time": cp.time,
        "key_id": signed.key_id,
    }
    return all(c.get(k) == v for k, v in fields.items())


def _sorted_checkpoints(
    raw: Iterable[Any], report: BundleReport
) -> list[tuple[int, SignedCheckpoint]]:
    out = []
    for i, c in enumerate(raw):
        try:
            signed = parse_checkpoint(c)
        except CheckpointError:
            report.failures.append(f"checkpoint {i + 1}: not a signed checkpoint note")
            continue
        if not matches_note(c, signed):
            report.failures.append(
                f"checkpoint {i + 1} (size {signed.checkpoint.tree_size}):"
                " its fields differ from its signed note"
            )
        out.append((i + 1, signed))
    return out


def _chain_entries(
    chain: ChainVerifier, entries: list[Any], version: int, digests: list[bytes]
) -> None:
    """Feed every entry to ``chain``; ``digests`` gets the hashes of those that chained."""
    if version == 2:
        feed_v2(chain, entries, digests)
        return
    rows = rows_v1(entries)  # None: the careful path below names the entry
    if rows is not None:
        chain.feed_rows(rows, digests)
        return
    for raw in entries:
        entry = raw if isinstance(raw, dict) else {}
        if not chain.feed(entry):
            break
        digests.append(bytes.fromhex(entry["hash"]))


def _hash_of(entry: Any, version: int) -> str:
    return str(entry[7] if version == 2 else entry["hash"])


def _completion(entries: list[Any], good: int, version: int) -> int | None:
    """The sequence number of the first ``SESSION_COMPLETED`` among the entries that chained."""
    types = [e[3] if version == 2 else e.get("event_type") for e in entries[:good]]
    return types.index(COMPLETED) + 1 if COMPLETED in types else None


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

    # Signatures (each once), sessions, order.
    verified: set[int] = set()
    last_size, last_time = 0, ""
    for n, s in checkpoints:
        cp = s.checkpoint
        where = f"checkpoint {n} (size {cp.tree_size})"
        if cp.session_id != sid:
            report.failures.append(f"{where}: signed for session {cp.session_id}, not {sid}")
        public = trusted.get(s.key_id)
        if public is None:
            report.failures.append(f"{where}: signed by key {s.key_id}, which is not trusted")
        elif s.verify(public):
            verified.add(n)
        else:
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
    version = FORMATS.get(str(doc.get("format")), 1)
    workers = _workers() if workers is None else workers
    sizes = {s.checkpoint.tree_size for _, s in checkpoints}
    with _no_gc():
        fast = None
        if workers > 1 and isinstance(entries, list | RowLines) and len(entries) >= PARALLEL_MIN:
            fast = parallel_chain(entries, version, sid or None, workers, sizes | {len(entries)})
        if isinstance(entries, RowLines):
            entries = None if fast is not None else entries.parse()  # the careful pass's
    if fast is None and not isinstance(entries, list):
        report.failures.append("the bundle has no entry list")
        entries = []
    chain = ChainVerifier(sid or None)
    with _no_gc():
        if fast is not None:
            good, levels, heads = fast.entries, fast.levels, fast.heads
            result = VerifyResult(True, good, heads[good], None)
            completed_at = None if fast.completed is None else fast.completed + 1
        else:
            assert entries is not None
            digests: list[bytes] = []
            _chain_entries(chain, entries, version, digests)
            result = chain.result()
            good = len(digests)
            levels = tree_levels(digests)
            completed_at = _completion(entries, good, version)
            heads = {k: _hash_of(entries[k - 1], version) for k in sizes if 0 < k <= good}
    for n, s in checkpoints:
        cp = s.checkpoint
        if not 0 < cp.tree_size <= good:
            continue
        root = fold([levels[lv][32 * ix : 32 * ix + 32] for lv, ix in range_nodes(0, cp.tree_size)])
        if not hashes_equal(cp.chain_head, heads[cp.tree_size]) or cp.root_hash != root:
            report.failures.append(
                f"checkpoint {n} (size {cp.tree_size}) contradicts the entries:"
                f" entries 1..{cp.tree_size} are not the ones it signed"
            )
        elif n in verified:
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
