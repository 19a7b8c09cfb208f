"""Chain v1: the hash of one log entry and the verification of a whole log.

The formula is PROTOCOL.md section 1. The reference is two nested standard
``json.dumps`` calls; :func:`entry_hash` builds the same bytes by hand because
the outer object has seven fixed keys and this sits on the append and verify
hot paths. ``tests/unit/test_chain.py`` pins both to each other and to the test
vectors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from protocol.errors import ProtocolError

GENESIS_HASH = "0" * 64

_sha256 = hashlib.sha256
_dumps = json.dumps


def format_timestamp(dt: datetime) -> str:
    """The one timestamp form of the log: UTC, microseconds, ``+00:00``."""
    if dt.tzinfo is None:
        raise ValueError("log timestamps must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _details_encoder() -> Callable[[Any], str]:
    """``json.dumps(d, sort_keys=True)`` without its per-call set-up.

    ``json.dumps`` with arguments builds a ``JSONEncoder`` and a C encoder on
    every call (two thirds of its time for a small object); this builds the C
    encoder once, with the arguments ``JSONEncoder.iterencode`` would give it,
    so the text is the standard library's, byte for byte. No circular check:
    details are JSON values, parsed or built by the rules, never cyclic.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python without the C accelerator
        return lambda d: _dumps(d, sort_keys=True)
    enc = json.JSONEncoder(sort_keys=True)
    c = make(None, enc.default, _quote, None, ": ", ", ", True, False, True)

    def encode(value: Any) -> str:
        return "".join(c(value, 0))

    return encode


# Any JSON value in the canonical form (the verifiers check many details texts at once);
# ``canonical_details`` is the details string that is hashed and stored.
canonical_json = _details_encoder()
canonical_details: Callable[[Mapping[str, Any]], str] = canonical_json


def entry_hash_canonical_py(
    session_id: str,
    sequence_number: int,
    timestamp: str,
    event_type: str,
    actor_id: str | None,
    details_json: str,
    previous_hash: str,
) -> str:
    """Chain v1 hash from the already canonical details string (``entry_hash_canonical``)."""
    # The outer object of PROTOCOL.md section 1 with its keys sorted and the
    # standard separators. An f-string: 40 % fewer instructions than one
    # %-format of the same text (callgrind), and this runs once an entry.
    actor = "null" if actor_id is None else _quote(actor_id)
    return _sha256(
        f'{{"actor_id": {actor}, "details": {_quote(details_json)},'
        f' "event_type": {_quote(event_type)}, "previous_hash": {_quote(previous_hash)},'
        f' "sequence_number": {sequence_number}, "session_id": {_quote(session_id)},'
        f' "timestamp": {_quote(timestamp)}}}'.encode()
    ).hexdigest()


def entry_hash(
    session_id: str,
    sequence_number: int,
    timestamp: str,
    event_type: str,
    actor_id: str | None,
    details: Mapping[str, Any],
    previous_hash: str,
) -> str:
    """Chain v1 hash of one entry (PROTOCOL.md section 1)."""
    return entry_hash_canonical(
        session_id,
        sequence_number,
        timestamp,
        event_type,
        actor_id,
        canonical_details(details),
        previous_hash,
    )


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison, so a verifier leaks nothing through timing."""
    return hmac.compare_digest(a.encode(), b.encode())


def feed_rows_py(
    rows: Iterable[Sequence[Any]],
    sid: Any,
    expected: int,
    prev: Any,
    digests: list[bytes] | None,
) -> tuple[int, int, Any, Any, Any]:
    """``ChainVerifier.feed_rows``'s loop: ``(count, expected, prev, sid, bad)``.

    ``count`` rows were read (the bad one included); ``bad`` is the first
    invalid sequence number, or None. The lookups are hoisted and
    ``entry_hash_canonical`` is inlined: this runs once an entry of a log.
    """
    same = hmac.compare_digest
    sha, quote = _sha256, _quote
    count = 0
    quoted_sid = None
    keep = None if digests is None else digests.append
    for session_id, seq, ts, event_type, actor_id, details, previous, hash_ in rows:
        count += 1
        if quoted_sid is None:
            # Every entry that gets as far as hashing has this session id,
            # so it is quoted once.
            if sid is None:
                sid = session_id
            quoted_sid = quote(sid) if type(sid) is str else ""
        try:
            good = (
                seq == expected
                and session_id == sid
                and same(previous, prev)
                and same(
                    hash_,
                    (
                        d := sha(
                            # entry_hash_canonical's text, inlined
                            f'{{"actor_id": {"null" if actor_id is None else quote(actor_id)},'
                            f' "details": {quote(details)}, "event_type": {quote(event_type)},'
                            f' "previous_hash": {quote(previous)}, "sequence_number": {seq},'
                            f' "session_id": {quoted_sid}, "timestamp": {quote(ts)}}}'.encode()
                        ).digest()
                    ).hex(),
                )
            )
        except (TypeError, ValueError):  # not text (or not ASCII) where a hash belongs
            good = False
        if not good:
            return count, expected, prev, sid, seq if isinstance(seq, int) and seq > 0 else expected
        if keep is not None:
            keep(d)
        expected += 1
        prev = hash_
    return count, expected, prev, sid, None


def _native() -> Any:
    try:
        from protocol import _chain_native
    except ImportError:  # built without a C compiler or OpenSSL's headers
        return None
    return _chain_native


_c = _native()
# The entry hash the writer computes and the loop every verifier runs: in C
# when built (protocol/_chain_native.c), else the Python above.
entry_hash_native: Callable[[str, int, str, str, str | None, str, str], str] | None = (
    None if _c is None else _c.entry_hash
)
feed_rows_native: Callable[..., tuple[int, int, Any, Any, Any]] | None = (
    None if _c is None else _c.feed
)
entry_hash_canonical = entry_hash_canonical_py if entry_hash_native is None else entry_hash_native
_feed = feed_rows_py if feed_rows_native is None else feed_rows_native


@dataclass(frozen=True, slots=True)
class VerifyResult:
    valid: bool
    entries: int
    head_hash: str
    first_invalid_sequence: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_invalid_sequence": self.first_invalid_sequence,
        }


class ChainVerifier:
    """Incremental verifier: feed entries in order, read the result at any time.

    An entry is invalid when its sequence number is not the next one, its
    ``previous_hash`` is not the previous entry's hash, or its ``hash`` is not
    the chain v1 hash of its fields. The first invalid entry is remembered and
    verification stops there: everything after it hangs off a broken link.
    """

    __slots__ = ("_session_id", "_expected_seq", "_prev", "_count", "_bad")

    def __init__(
        self,
        session_id: str | None = None,
        *,
        sequence: int = 1,
        previous_hash: str = GENESIS_HASH,
    ) -> None:
        """``sequence``/``previous_hash``: where the first entry fed must link (a range's start)."""
        self._session_id = session_id
        self._expected_seq = sequence
        self._prev = previous_hash
        self._count = 0
        self._bad: int | None = None

    def feed_canonical(
        self,
        session_id: str,
        sequence_number: int,
        timestamp: str,
        event_type: str,
        actor_id: str | None,
        details_json: str,
        previous_hash: str,
        hash_: str,
    ) -> bool:
        row = (
            session_id,
            sequence_number,
            timestamp,
            event_type,
            actor_id,
            details_json,
            previous_hash,
            hash_,
        )
        return self.feed_rows((row,))

    def feed_rows(self, rows: Iterable[Sequence[Any]], digests: list[bytes] | None = None) -> bool:
        """Feed rows of the eight hashed fields in order (as ``feed_canonical`` takes them).

        The same checks as ``feed_canonical``: this is what verifying a stored
        log or a bundle of millions of entries costs, so the loop is
        ``feed_rows_py`` below, or the same loop in C where the package was
        built with it (``protocol/_chain_native.c``). False once an entry is
        invalid. ``digests``: gets the 32-byte hash of every entry that
        verified (the Merkle tree's leaves are made from them, with no hex
        decoding).
        """
        if self._bad is not None:
            return False
        count, expected, prev, sid, bad = _feed(
            rows, self._session_id, self._expected_seq, self._prev, digests
        )
        self._expected_seq, self._prev, self._session_id = expected, prev, sid
        self._count += count
        self._bad = bad
        return bad is None

    def verified(self, count: int, sequence: int, head_hash: str) -> None:
        """``count`` more entries, checked elsewhere exactly as ``feed_rows`` checks them
        (``store/_verify_native.c``), ending at ``head_hash``; the next is ``sequence``."""
        if self._bad is None and count:
            self._count += count
            self._expected_seq, self._prev = sequence, head_hash

    def reject(self, sequence_number: Any) -> None:
        """The next entry is invalid although its fields hash (a bundle v2 entry whose
        details text is not canonical): the log breaks there, as in ``feed_rows``."""
        if self._bad is None:
            self._count += 1
            ok = isinstance(sequence_number, int) and sequence_number > 0
            self._bad = sequence_number if ok else self._expected_seq

    def feed(self, entry: Mapping[str, Any]) -> bool:
        """Feed one entry as a mapping of the section 1 fields (e.g. a parsed export line)."""
        try:
            details = entry["details"]
            if not isinstance(details, Mapping):
                raise TypeError("details must be an object")
            return self.feed_canonical(
                str(entry["session_id"]),
                int(entry["sequence_number"]),
                str(entry["timestamp"]),
                str(entry["event_type"]),
                None if entry["actor_id"] is None else str(entry["actor_id"]),
                canonical_details(details),
                str(entry["previous_hash"]),
                str(entry["hash"]),
            )
        except (KeyError, TypeError, ValueError):
            if self._bad is None:
                self._count += 1
                self._bad = self._expected_seq
            return False

    def result(self) -> VerifyResult:
        return VerifyResult(
            valid=self._bad is None,
            entries=self._count,
            head_hash=self._prev,
            first_invalid_sequence=self._bad,
        )


@dataclass(frozen=True, slots=True)
class ChainPart:
    """One range of a log verified on its own, starting from its first row's own link.

    A log can be verified in ranges (in parallel processes) because every
    entry carries its predecessor's hash: each range is checked from its first
    row as if that row linked correctly, and :func:`join_parts` then checks
    each range's first row against where the range before it ended. The joined
    result is the one a single :class:`ChainVerifier` over the whole log gives.
    """

    first: tuple[Any, Any, Any] | None  # (session id, sequence, previous hash) of its first row
    result: VerifyResult


class PartVerifier:
    """``feed_rows`` over one range of a log (as many pages as it takes), then ``part()``."""

    __slots__ = ("_session_id", "_first", "_chain")

    def __init__(self, session_id: str | None = None) -> None:
        self._session_id = session_id
        self._first: tuple[Any, Any, Any] | None = None
        self._chain: ChainVerifier | None = None

    def feed_rows(self, rows: Sequence[Sequence[Any]], digests: list[bytes] | None = None) -> bool:
        if self._chain is None:
            if self._first is not None:
                return False  # its first row could not even start a chain
            if not rows:
                return True
            sid, seq, previous = rows[0][0], rows[0][1], rows[0][6]
            self._first = (sid, seq, previous)
            if type(seq) is not int or type(previous) is not str:
                return False  # join_parts finds the first row's link broken
            self._chain = ChainVerifier(
                self._session_id or sid, sequence=seq, previous_hash=previous
            )
        return self._chain.feed_rows(rows, digests)

    def verified(self, first: tuple[Any, int, str], count: int, sequence: int, head: str) -> None:
        """The range's first ``count`` rows, checked elsewhere (``ChainVerifier.verified``);
        ``first``: the first row's (session id, sequence, previous hash)."""
        if self._first is None and count:
            self._first = first
            self._chain = ChainVerifier(
                self._session_id or first[0], sequence=first[1], previous_hash=first[2]
            )
        if self._chain is not None:
            self._chain.verified(count, sequence, head)

    def part(self) -> ChainPart:
        chain = self._chain or ChainVerifier(self._session_id)
        return ChainPart(self._first, chain.result())


def join_parts(session_id: str | None, parts: Iterable[ChainPart]) -> VerifyResult:
    """The whole log's result from its ranges' (in sequence order; see :class:`ChainPart`)."""
    expected, prev, sid, count = 1, GENESIS_HASH, session_id, 0
    for part in parts:
        if part.first is None:
            continue  # an empty range
        first_sid, seq, previous = part.first
        if sid is None:
            sid = first_sid
        try:
            linked = (
                type(seq) is int
                and seq == expected
                and first_sid == sid
                and hmac.compare_digest(previous, prev)
            )
        except (TypeError, ValueError):
            linked = False
        r = part.result
        if not linked or r.entries == 0:
            bad = seq if isinstance(seq, int) and seq > 0 else expected
            return VerifyResult(False, count + 1, prev, bad)
        count += r.entries
        if not r.valid:
            return VerifyResult(False, count, r.head_hash, r.first_invalid_sequence)
        expected, prev = seq + r.entries, r.head_hash
    return VerifyResult(True, count, prev, None)


def verify_entries(entries: Iterable[Mapping[str, Any]]) -> VerifyResult:
    """Verify a whole log given as mappings (an export, a replay response)."""
    verifier = ChainVerifier()
    for entry in entries:
        if not verifier.feed(entry):
            break
    return verifier.result()


def check_details(details: object, *, max_depth: int = 16) -> dict[str, Any]:
    """Validate a ``details`` object against the contract: JSON, no floats, ASCII keys.

    Raises:
        ProtocolError: naming the first offending path.
    """
    if not isinstance(details, dict):
        raise ProtocolError("details must be a JSON object")
    _check_value(details, "details", max_depth)
    return details


def _check_value(value: object, path: str, depth: int) -> None:
    if depth < 0:
        raise ProtocolError(f"{path}: nested too deeply")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise ProtocolError(f"{path}: floats are not allowed; use integers")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]", depth - 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ProtocolError(f"{path}: object keys must be ASCII strings")
            _check_value(item, f"{path}.{key}", depth - 1)
        return
    raise ProtocolError(f"{path}: unsupported type {type(value).__name__}")


def session_integrity_hash(
    *,
    session_id: str,
    assignment_id: str | None,
    status: str,
    started_at: str | None,
    ended_at: str | None,
    participations: Iterable[Mapping[str, Any]],
    log_entries: int,
    log_head_hash: str,
) -> str:
    """The seed's session integrity hash, sealed on completion.

    ``participations`` are sorted by ``user_id``; the log is represented by its
    length and head hash, which covers every entry through the chain.
    """
    parts = sorted(
        (
            {
                "user_id": str(p["user_id"]),
                "role": p["role"],
                "speaker": p.get("speaker"),
                "joined_at": p.get("joined_at"),
                "left_at": p.get("left_at"),
                "connection_count": p.get("connection_count"),
            }
            for p in participations
        ),
        key=lambda p: p["user_id"],
    )
    payload = {
        "session_id": session_id,
        "assignment_id": assignment_id,
        "status": status,
        "started_at": started_at,
        "ended_at": ended_at,
        "participations": parts,
        "logs": {"entries": log_entries, "head_hash": log_head_hash},
    }
    return _sha256(_dumps(payload, sort_keys=True).encode()).hexdigest()
