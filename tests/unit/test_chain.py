"""Chain v1: the PROTOCOL.md test vectors, the reference formula, the verifier."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from protocol import (
    GENESIS_HASH,
    ChainVerifier,
    PartVerifier,
    canonical_details,
    check_details,
    entry_hash,
    entry_hash_canonical,
    format_timestamp,
    hashes_equal,
    join_parts,
    session_integrity_hash,
    verify_entries,
)
from protocol.errors import ProtocolError

SID = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"
VECTORS: list[tuple[int, str, str, str | None, dict[str, Any], str]] = [
    (
        1,
        "2026-02-15T10:00:00.000000+00:00",
        "SESSION_STARTED",
        "7",
        {"status": "active", "from": "pending"},
        "208df97120abc77d972d1fd5a496ee2e47c0405b0b12ede3dea9e387b965cd72",
    ),
    (
        2,
        "2026-02-15T10:00:05.250000+00:00",
        "PARTICIPANT_JOINED",
        "12",
        {"role": "petitioner", "name": "Zoë Ança", "speaker": 1},
        "9a159291f6f9f79fa0ffef518cc1a5906618af7cb32e1bf0a6ae66d8ebaef065",
    ),
    (
        3,
        "2026-02-15T10:00:09.125000+00:00",
        "OBSERVER_JOINED",
        None,
        {"anonymous": True},
        "38bef122d08fd18335b193917ab53a8e137a7ff17f2d4c2545a702a8f9d0fcf5",
    ),
]


def reference_hash(
    sid: str, seq: int, ts: str, et: str, actor: str | None, details: Any, prev: str
) -> str:
    """The formula exactly as PROTOCOL.md writes it."""
    payload = {
        "session_id": sid,
        "sequence_number": seq,
        "timestamp": ts,
        "event_type": et,
        "actor_id": actor,
        "details": json.dumps(details, sort_keys=True),
        "previous_hash": prev,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def chained() -> list[dict[str, Any]]:
    out, prev = [], GENESIS_HASH
    for seq, ts, et, actor, details, _ in VECTORS:
        h = entry_hash(SID, seq, ts, et, actor, details, prev)
        out.append(
            {
                "session_id": SID,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": et,
                "actor_id": actor,
                "details": details,
                "previous_hash": prev,
                "hash": h,
            }
        )
        prev = h
    return out


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"seq{v[0]}")
def test_vectors(vector: Any) -> None:
    idx = VECTORS.index(vector)
    prev = GENESIS_HASH if idx == 0 else VECTORS[idx - 1][5]
    seq, ts, et, actor, details, expected = vector
    assert entry_hash(SID, seq, ts, et, actor, details, prev) == expected
    assert reference_hash(SID, seq, ts, et, actor, details, prev) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    seq=st.integers(1, 2**40),
    et=st.text(min_size=1, max_size=30),
    actor=st.none() | st.text(max_size=12),
    details=st.dictionaries(
        st.text(st.characters(max_codepoint=127), max_size=8), json_values, max_size=5
    ),
    sid=st.text(max_size=40),
    ts=st.text(max_size=40),
)
def test_fast_formula_equals_reference(
    seq: int, et: str, actor: str | None, details: dict[str, Any], sid: str, ts: str
) -> None:
    assert entry_hash(sid, seq, ts, et, actor, details, GENESIS_HASH) == reference_hash(
        sid, seq, ts, et, actor, details, GENESIS_HASH
    )


def test_verify_valid_chain() -> None:
    result = verify_entries(chained())
    assert result.valid and result.entries == 3
    assert result.head_hash == VECTORS[-1][5]
    assert result.first_invalid_sequence is None


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda e: e[1]["details"].update(name="Mallory"), id="details"),
        pytest.param(lambda e: e[1].update(actor_id="13"), id="actor"),
        pytest.param(
            lambda e: e[1].update(timestamp="2026-02-15T10:00:05.250001+00:00"), id="timestamp"
        ),
        pytest.param(lambda e: e[1].update(event_type="PARTICIPANT_LEFT"), id="event_type"),
        pytest.param(lambda e: e[1].update(hash="0" * 64), id="hash"),
        pytest.param(lambda e: e[1].update(previous_hash="1" * 64), id="link"),
        pytest.param(lambda e: e[1].update(sequence_number=5), id="sequence"),
    ],
)
def test_verify_names_the_first_tampered_entry(tamper: Any) -> None:
    entries = chained()
    tamper(entries)
    result = verify_entries(entries)
    assert not result.valid
    assert result.first_invalid_sequence in (2, 5)
    assert result.head_hash == VECTORS[0][5]  # the last entry that did verify


def test_verify_detects_a_missing_entry() -> None:
    entries = chained()
    del entries[1]
    result = verify_entries(entries)
    assert not result.valid and result.first_invalid_sequence == 3


def test_verify_malformed_entry() -> None:
    result = verify_entries([{"session_id": SID}])
    assert not result.valid and result.first_invalid_sequence == 1


def test_verifier_pins_the_session() -> None:
    v = ChainVerifier("another-session")
    assert not v.feed(chained()[0])


def test_timestamp_form() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    dt = datetime(2026, 2, 15, 11, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(dt) == "2026-02-15T10:00:00.250000+00:00"
    assert format_timestamp(datetime(2026, 1, 1, tzinfo=UTC)).endswith(".000000+00:00")
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 1))


def test_constant_time_compare() -> None:
    assert hashes_equal("ab" * 32, "ab" * 32)
    assert not hashes_equal("ab" * 32, "ac" * 32)
    assert not hashes_equal("ab", "abc")


@pytest.mark.parametrize(
    "details,message",
    [
        ([], "JSON object"),
        ({"x": 1.5}, "floats"),
        ({"x": [1, {"y": 0.1}]}, r"details\.x\[1\]\.y"),
        ({"é": 1}, "ASCII"),
        ({"x": object()}, "unsupported"),
        ({"x": {"y": {"z": {}}}}, None),
    ],
)
def test_check_details(details: Any, message: str | None) -> None:
    if message is None:
        assert check_details(details) == details
        return
    with pytest.raises(ProtocolError, match=message):
        check_details(details)


def test_check_details_depth() -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(20):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(ProtocolError, match="deeply"):
        check_details(deep)


def test_integrity_hash_is_deterministic_and_order_free() -> None:
    parts: list[dict[str, Any]] = [
        {"user_id": "2", "role": "judge", "joined_at": "a", "left_at": None, "connection_count": 1},
        {
            "user_id": "1",
            "role": "petitioner",
            "speaker": 1,
            "joined_at": "b",
            "left_at": "c",
            "connection_count": 2,
        },
    ]
    kw: dict[str, Any] = dict(
        session_id=SID,
        assignment_id=None,
        status="completed",
        started_at="s",
        ended_at="e",
        log_entries=3,
        log_head_hash=VECTORS[2][5],
    )
    a = session_integrity_hash(participations=parts, **kw)
    b = session_integrity_hash(participations=list(reversed(parts)), **kw)
    assert a == b and len(a) == 64
    assert a != session_integrity_hash(participations=parts, **{**kw, "log_entries": 4})


# -- verifying in ranges (store/_verify.py, clients/_bundle.py) ---------------------


def chain_rows(n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        details = canonical_details({"i": seq})
        ts = f"2026-02-15T10:00:{seq % 60:02d}.000000+00:00"
        h = entry_hash_canonical(SID, seq, ts, "NOTE", "7", details, prev)
        rows.append((SID, seq, ts, "NOTE", "7", details, prev, h))
        prev = h
    return rows


def _edit(rows: list[tuple[Any, ...]], i: int, field: int, value: Any) -> None:
    row = list(rows[i])
    row[field] = value
    rows[i] = tuple(row)


Rows = list[tuple[Any, ...]]
MUTATIONS: dict[str, Callable[[Rows, int], object]] = {
    "none": lambda rows, i: None,
    "details": lambda rows, i: _edit(rows, i, 5, '{"i": -1}'),
    "hash": lambda rows, i: _edit(rows, i, 7, "f" * 64),
    "link": lambda rows, i: _edit(rows, i, 6, "e" * 64),
    "sequence": lambda rows, i: _edit(rows, i, 1, rows[i][1] + 7),
    "zero sequence": lambda rows, i: _edit(rows, i, 1, 0),
    "text sequence": lambda rows, i: _edit(rows, i, 1, "x"),
    "session": lambda rows, i: _edit(rows, i, 0, "another"),
    "no previous": lambda rows, i: _edit(rows, i, 6, None),
    "non-ASCII previous": lambda rows, i: _edit(rows, i, 6, "é" * 64),
    "delete": lambda rows, i: rows.pop(i),
    "delete tail": lambda rows, i: rows.__delitem__(slice(i, None)),
    "duplicate": lambda rows, i: rows.insert(i, rows[i]),
    "swap": lambda rows, i: rows.insert(i + 1, rows.pop(i)) if i + 1 < len(rows) else None,
}


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(1, 40),
    mutation=st.sampled_from(sorted(MUTATIONS)),
    where=st.integers(0, 39),
    cuts=st.lists(st.integers(0, 45), max_size=5),
    pinned=st.booleans(),
)
def test_ranges_joined_equal_one_pass(
    n: int, mutation: str, where: int, cuts: list[int], pinned: bool
) -> None:
    """Any split of any (tampered) log into ranges gives exactly the sequential result."""
    rows = chain_rows(n)
    MUTATIONS[mutation](rows, where % n)
    sid = SID if pinned else None
    whole = ChainVerifier(sid)
    whole.feed_rows(rows)
    edges = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    parts = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        part = PartVerifier(sid)
        for page in (rows[a : (a + b) // 2], rows[(a + b) // 2 : b]):  # two pages a range
            part.feed_rows(page)
        parts.append(part.part())
    assert join_parts(sid, parts) == whole.result()


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_canonical_details_is_the_standard_librarys_sorted_dumps(details: Any) -> None:
    """The hashed text is ``json.dumps(d, sort_keys=True)`` byte for byte (PROTOCOL.md 1)."""
    assert canonical_details({"d": details, "b": 1}) == json.dumps(
        {"d": details, "b": 1}, sort_keys=True
    )


def test_canonical_details_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        canonical_details({"d": object()})
    with pytest.raises(TypeError):
        canonical_details({"d": {1: 2, "a": 3}})  # keys of mixed types cannot be sorted
