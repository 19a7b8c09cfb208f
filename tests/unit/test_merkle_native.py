"""The Merkle fold in C (protocol/_merkle_native.c) against the Python fold it replaces.

Same arguments, same results, same refusals of bad input; no reference left
behind. tests/unit/test_merkle.py checks both folds against RFC 6962 itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import protocol.merkle
from protocol.merkle import CompactRange, extend_native, extend_py, levels_native, levels_py
from tests.unit.native_helpers import built, grown_bytes

Fold = Callable[..., tuple[int, bytes]]


@pytest.fixture
def native() -> Fold:
    return built(extend_native, "protocol._merkle_native")


def test_the_writer_and_the_verifiers_use_the_c_fold(native: Fold) -> None:
    assert protocol.merkle.extend is native


def _hex(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "big")).hexdigest()


def _edge(size: int, salt: int = 0) -> bytes:
    """Any well-formed edge: one 32-byte hash per set bit of ``size``."""
    return b"".join(
        hashlib.sha256(f"{salt} {i}".encode()).digest() for i in range(size.bit_count())
    )


@settings(max_examples=200, deadline=None)
@given(
    size=st.one_of(st.integers(0, 300), st.integers(0, 2**62)),
    k=st.integers(0, 40),
    min_level=st.integers(-2, 9),
    key=st.sampled_from([None, "s", ("a", 1)]),
    entries=st.booleans(),
)
def test_the_c_fold_is_the_python_fold(
    size: int, k: int, min_level: int, key: Any, entries: bool
) -> None:
    native = built(extend_native, "protocol._merkle_native")
    edge = _edge(size)
    hexes = [_hex(size + i) for i in range(k)]
    items: list[Any] = (
        [SimpleNamespace(hash=h) for h in hexes] if entries else [bytes.fromhex(h) for h in hexes]
    )
    want: list[Any] = []
    got: list[Any] = []
    assert native(edge, size, iter(items), min_level, got, key, entries) == extend_py(
        edge, size, items, min_level, want, key, entries
    )
    assert got == want


def test_a_tree_grown_by_the_c_fold_resumes_in_python_and_back(native: Fold) -> None:
    size, edge = 0, b""
    nodes: list[Any] = []
    for chunk in range(40):
        fold = native if chunk % 2 else extend_py
        leaves = [bytes.fromhex(_hex(size + i)) for i in range(chunk % 7 + 1)]
        size, edge = fold(edge, size, leaves, 0, nodes)
    whole = CompactRange()
    expected = whole.extend(bytes.fromhex(_hex(i)) for i in range(size))
    assert (size, edge) == (whole.size, whole.edge) and nodes == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), top=st.one_of(st.none(), st.integers(-2, 12)), leaves=st.booleans())
def test_the_c_levels_are_the_python_levels(n: int, top: int | None, leaves: bool) -> None:
    native = built(levels_native, "protocol._merkle_native")
    blob = b"".join(bytes.fromhex(_hex(i)) for i in range(n))
    assert native(blob, leaves, top) == levels_py(blob, leaves, top)
    assert native(bytearray(blob), leaves, top) == levels_py(blob, leaves, top)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param((b"\x00" * 33, True, None), ValueError, id="not-whole-hashes"),
        pytest.param((b"\x00" * 31, False, 3), ValueError, id="short"),
        pytest.param((5, True, None), TypeError, id="not-bytes"),
        pytest.param((b"\x00" * 64, True, "1"), TypeError, id="top-not-an-int"),
    ],
)
@pytest.mark.parametrize("impl", ["python", "c"])
def test_bad_levels_input_is_refused_by_both(impl: str, args: tuple[Any, ...], error: type) -> None:
    f = levels_py if impl == "python" else levels_native
    f = built(f, "protocol._merkle_native")
    with pytest.raises(error):
        f(*args)


def _bad_inputs() -> Iterator[Any]:
    good = SimpleNamespace(hash=_hex(1))
    yield pytest.param(_edge(3)[:-1], 3, [good], True, id="edge-one-byte-short")
    yield pytest.param(_edge(3), 4, [good], True, id="edge-for-another-size")
    yield pytest.param(b"", -1, [good], True, id="negative-size")
    yield pytest.param(b"", 0, [good, SimpleNamespace(hash="zz" * 32)], True, id="not-hex")
    yield pytest.param(b"", 0, [SimpleNamespace(hash=_hex(1)[:-2])], True, id="short-hash")
    yield pytest.param(b"", 0, [SimpleNamespace(hash=_hex(1) + "00")], True, id="long-hash")
    yield pytest.param(b"", 0, [b"\x00" * 31], False, id="short-leaf")
    yield pytest.param(b"", 0, [b"\x00" * 33], False, id="long-leaf")


@pytest.mark.parametrize(("edge", "size", "items", "entries"), list(_bad_inputs()))
@pytest.mark.parametrize("fold", ["python", "c"])
def test_bad_input_is_a_value_error_from_both(
    fold: str, edge: bytes, size: int, items: list[Any], entries: bool
) -> None:
    f = extend_py if fold == "python" else extend_native
    f = built(f, "protocol._merkle_native")
    with pytest.raises(ValueError):
        f(edge, size, items, 0, [], None, entries)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param((b"", 0, [1], 0, []), TypeError, id="leaf-not-bytes"),
        pytest.param((b"", 0, [SimpleNamespace(hash=1)], 0, [], None, True), TypeError, id="hash"),
        pytest.param((b"", 0, [object()], 0, [], None, True), AttributeError, id="no-hash"),
        pytest.param((b"", 0, 5, 0, []), TypeError, id="leaves-not-iterable"),
        pytest.param((b"", 0, [], 0, ()), TypeError, id="created-not-a-list"),
        pytest.param((b"", 0, []), TypeError, id="too-few-arguments"),
        pytest.param((b"", 0, [], 0, [], None, True, 1), TypeError, id="too-many"),
        pytest.param(("", 0, [], 0, []), TypeError, id="edge-not-bytes"),
    ],
)
def test_wrong_types_are_refused(native: Fold, args: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        native(*args)


def test_an_error_from_the_leaves_passes_through(native: Fold) -> None:
    def leaves() -> Iterator[bytes]:
        yield b"\x00" * 32
        raise KeyError("from the iterator")

    with pytest.raises(KeyError, match="from the iterator"):
        native(b"", 0, leaves(), 0, [])


def test_it_leaves_no_memory_behind(native: Fold) -> None:
    """Every reference the C code takes is given back, on success and on error."""
    entries = [SimpleNamespace(hash=_hex(i)) for i in range(8)]
    bad = [*entries[:3], SimpleNamespace(hash="not hex")]

    def round_() -> None:
        for size in range(64):
            native(_edge(size), size, entries, 0, [], "key", True)
            native(_edge(size), size, [bytes.fromhex(_hex(size))], 0, [])
            with pytest.raises(ValueError):
                native(_edge(size), size, bad, 0, [], "key", True)
            assert levels_native is not None
            levels_native(_edge(size), size % 2 == 0, size % 5 or None)
            with pytest.raises(ValueError):
                levels_native(b"\x00" * 33, True, None)

    grown = grown_bytes(round_)
    # 50 rounds of 192 calls: one leaked tuple or bytes a call would be > 500 kB.
    assert grown < 20_000, grown
