"""ChainVerifier.feed_rows's loop in C (protocol/_chain_native.c) against the Python loop.

Same rows, same result: the count read, where the chain stands, the first bad
sequence, the digests of the entries that verified, and the same exceptions.
The rows are valid chains over any text (escapes, non-ASCII, astral code
points, lone surrogates), then mutated field by field into anything a bundle
or a broken database could hold. tests/unit/test_chain.py pins the Python
loop to PROTOCOL.md's test vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import protocol._chain
from protocol import GENESIS_HASH, ChainVerifier, canonical_json, entry_hash_canonical
from protocol._chain import (
    entry_hash_canonical_py,
    entry_hash_native,
    feed_rows_native,
    feed_rows_py,
)
from tests.unit.native_helpers import built, grown_bytes

Feed = Callable[..., tuple[int, int, Any, Any, Any]]

# Text that exercises every branch of the quoting: the short escapes, other
# control characters, DEL, quotes, backslashes, non-ASCII, astral, lone surrogates.
_chars = st.one_of(
    st.characters(),
    st.sampled_from(['"', "\\", "\x7f", "\x00", "\x1f", "\b", "\f", "\n", "\r", "\t"]),
    st.sampled_from(["\u00e9", "\u20ac", "\U0001f600", "\U0010ffff", "\ud800", "\udfff"]),
)
_text = st.text(_chars, max_size=40)
_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    _text,
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@pytest.fixture
def native() -> Feed:
    return built(feed_rows_native, "protocol._chain_native")


def test_every_verifier_uses_the_c_loop(native: Feed) -> None:
    assert protocol._chain._feed is native


def test_the_writer_uses_the_c_entry_hash(native: Feed) -> None:
    assert entry_hash_native is not None
    assert protocol.entry_hash_canonical is entry_hash_native


@settings(max_examples=300, deadline=None)
@given(
    sid=_text,
    seq=st.one_of(st.integers(-(2**70), 2**70), st.booleans()),
    ts=_text,
    event_type=_text,
    actor=st.one_of(st.none(), _text),
    details=_text,
    prev=_text,
)
def test_the_c_entry_hash_is_the_python_one(
    sid: str, seq: int, ts: str, event_type: str, actor: str | None, details: str, prev: str
) -> None:
    native = built(entry_hash_native, "protocol._chain_native")
    args = (sid, seq, ts, event_type, actor, details, prev)
    assert native(*args) == entry_hash_canonical_py(*args)


@pytest.mark.parametrize("column", range(7))
@pytest.mark.parametrize("value", [None, 5, b"bytes", ["list"]])
def test_the_c_entry_hash_refuses_what_the_python_one_refuses(column: int, value: Any) -> None:
    native: Any = built(entry_hash_native, "protocol._chain_native")
    args: list[Any] = ["s-1", 3, "t", "NOTE", "j", "{}", GENESIS_HASH]
    args[column] = value
    try:
        want = entry_hash_canonical_py(*args)
    except TypeError:
        with pytest.raises(TypeError):
            native(*args)
        return
    assert native(*args) == want


def _chain(sid: Any, first: int, prev: str, fields: list[tuple[str, str, Any, str]]) -> list[Any]:
    rows: list[Any] = []
    for i, (ts, event_type, actor, details) in enumerate(fields):
        seq = first + i
        h = entry_hash_canonical(sid, seq, ts, event_type, actor, details, prev)
        rows.append((sid, seq, ts, event_type, actor, details, prev, h))
        prev = h
    return rows


def _both(rows: list[Any], sid: Any, expected: Any, prev: Any, digests: bool) -> None:
    assert feed_rows_native is not None
    want_d: list[bytes] | None = [] if digests else None
    got_d: list[bytes] | None = [] if digests else None
    try:
        want: Any = feed_rows_py(rows, sid, expected, prev, want_d)
    except Exception as exc:  # the same exception type from both, and nothing kept
        with pytest.raises(type(exc)):
            feed_rows_native(iter(rows), sid, expected, prev, got_d)
        return
    assert feed_rows_native(iter(rows), sid, expected, prev, got_d) == want
    assert got_d == want_d


_fields = st.tuples(_text, _text, st.one_of(st.none(), _text), _text)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(_fields, max_size=12),
    sid=st.one_of(_text, st.just("s-1")),
    first=st.integers(1, 2**40),
    given_sid=st.booleans(),
    digests=st.booleans(),
)
def test_valid_chains_over_any_text(
    fields: list[Any], sid: str, first: int, given_sid: bool, digests: bool
) -> None:
    built(feed_rows_native, "protocol._chain_native")
    rows = _chain(sid, first, GENESIS_HASH, fields)
    _both(rows, sid if given_sid else None, first, GENESIS_HASH, digests)
    assert feed_rows_py(rows, None, first, GENESIS_HASH, None)[4] is None


@settings(max_examples=600, deadline=None)
@given(
    fields=st.lists(_fields, min_size=1, max_size=6),
    at=st.integers(0, 5),
    column=st.integers(0, 7),
    value=_junk,
    given_sid=st.booleans(),
    start=st.sampled_from([1, 2, 0, True]),
    prev=st.sampled_from([GENESIS_HASH, GENESIS_HASH.upper(), "é" * 64, b"0" * 64, None]),
)
def test_any_mutation_is_judged_the_same(
    fields: list[Any],
    at: int,
    column: int,
    value: Any,
    given_sid: bool,
    start: Any,
    prev: Any,
) -> None:
    built(feed_rows_native, "protocol._chain_native")
    rows = _chain("s-1", 1, GENESIS_HASH, fields)
    row = list(rows[at % len(rows)])
    row[column] = value
    rows[at % len(rows)] = tuple(row)
    _both(rows, "s-1" if given_sid else None, start, prev, True)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([("s-1", 1)], id="short-row"),
        pytest.param([tuple(range(9))], id="long-row"),
        pytest.param([5], id="row-not-a-sequence"),
        pytest.param([[None] * 8], id="a-list-row"),
        pytest.param(["abcdefgh"], id="a-str-of-eight"),
        pytest.param(5, id="rows-not-iterable"),
    ],
)
def test_misshapen_rows_are_the_same_exception_or_result(native: Feed, rows: Any) -> None:
    _both(rows, None, 1, GENESIS_HASH, False)


def test_rows_in_pages_resume_where_the_last_page_stopped(native: Feed) -> None:
    """A verifier fed page by page, alternating the loops, ends as one pass does."""
    ts = "2026-12-07T10:00:00.000000+00:00"
    fields = [(ts, "NOTE", "j", canonical_json({"i": i})) for i in range(50)]
    rows = _chain("s-1", 1, GENESIS_HASH, fields)
    whole = ChainVerifier()
    assert whole.feed_rows(rows)
    sid, expected, prev = None, 1, GENESIS_HASH
    for k, page in enumerate(rows[i : i + 7] for i in range(0, 50, 7)):
        feed = native if k % 2 else feed_rows_py
        _, expected, prev, sid, bad = feed(page, sid, expected, prev, None)
        assert bad is None
    assert (expected - 1, prev) == (whole.result().entries, whole.result().head_hash)


def test_a_hash_in_upper_case_is_not_the_hash(native: Feed) -> None:
    rows = _chain("s-1", 1, GENESIS_HASH, [("t", "NOTE", None, "{}")] * 3)
    rows[1] = (*rows[1][:7], rows[1][7].upper())
    assert native(rows, None, 1, GENESIS_HASH, None) == (2, 2, rows[0][7], "s-1", 2)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(([], None, 1, GENESIS_HASH), id="too-few"),
        pytest.param(([], None, 1, GENESIS_HASH, None, 1), id="too-many"),
        pytest.param(([], None, 1, GENESIS_HASH, ()), id="digests-not-a-list"),
    ],
)
def test_wrong_arguments_are_refused(native: Feed, args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        native(*args)


def test_an_error_from_the_rows_passes_through(native: Feed) -> None:
    good = _chain("s-1", 1, GENESIS_HASH, [("t", "NOTE", None, "{}")])

    def rows() -> Iterator[Any]:
        yield from good
        raise KeyError("from the iterator")

    with pytest.raises(KeyError, match="from the iterator"):
        native(rows(), None, 1, GENESIS_HASH, [])


def test_it_leaves_no_memory_behind(native: Feed) -> None:
    """Every reference the C code takes is given back, on success and on error."""
    rows = _chain("s-1", 1, GENESIS_HASH, [("t", "NOTE", "\u00e9", '{"a": "\\n"}')] * 16)
    bad = [*rows[:5], (*rows[5][:5], 7, *rows[5][6:])]
    not_text: Any = 5

    def round_() -> None:
        for _ in range(20):
            native(rows, None, 1, GENESIS_HASH, [])
            native(bad, "s-1", 1, GENESIS_HASH, None)
            assert entry_hash_native is not None
            entry_hash_native("s-1", 2, "t", "NOTE", None, '{"a": "\u00e9"}', GENESIS_HASH)
            with pytest.raises(TypeError):
                entry_hash_native("s-1", 2, "t", "NOTE", not_text, "{}", GENESIS_HASH)
            with pytest.raises(ValueError):
                native([*rows[:3], ("short",)], None, 1, GENESIS_HASH, [])

    grown = grown_bytes(round_)
    # 50 rounds of 100 calls: one leaked tuple or bytes a call would be > 100 kB.
    assert grown < 20_000, grown


def test_a_sequence_whose_format_hashes_too_does_not_spoil_the_text(native: Feed) -> None:
    """Formatting a sequence number of a Python class runs its code, which may hash
    (here itself, as another thread could): the row's text must not be spoiled."""
    assert entry_hash_native is not None
    hasher = entry_hash_native

    class Seq(int):
        def __format__(self, spec: str) -> str:
            hasher("other", 99, "t", "X" * 3000, None, "{}", GENESIS_HASH)
            return "1"

    h = entry_hash_canonical_py("s-1", 1, "t", "NOTE", None, "{}", GENESIS_HASH)
    row = ("s-1", Seq(1), "t", "NOTE", None, "{}", GENESIS_HASH, h)
    assert native([row], None, 1, GENESIS_HASH, None) == feed_rows_py(
        [row], None, 1, GENESIS_HASH, None
    )
    assert native([row], None, 1, GENESIS_HASH, None)[4] is None
