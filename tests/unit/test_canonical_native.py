"""The scan of canonical details texts in C (protocol/_canonical_native.c) against
``is_canonical``, the reference that parses each text and encodes it again.

The scan may only ever accept a text ``is_canonical`` accepts (every text it
does not accept goes to ``is_canonical``), so the property is one implication
over texts of every kind: canonical ones, the same objects written any other
way, and canonical ones mutated a character at a time. It must also accept
the canonical text of any object in the forms details take (or it saves
nothing), and ``first_noncanonical`` must answer as the Python check does.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from protocol import canonical_details, is_canonical
from protocol._canonical import first_noncanonical_c, first_noncanonical_py, prefix_native
from tests.unit.native_helpers import built, grown_bytes


@pytest.fixture(autouse=True)
def _built() -> None:
    built(prefix_native, "protocol._canonical_native", needs="a C compiler")


def accepts(text: Any) -> bool:
    assert prefix_native is not None
    return prefix_native([text], 0) == 1


# Any text: ASCII, controls, DEL, non-ASCII, astral, lone surrogates.
_chars = st.one_of(
    st.characters(),
    st.sampled_from(['"', "\\", "\x7f", "\x00", "\x1f", "\b", "\f", "\n", "\r", "\t", "/"]),
    st.sampled_from(["\u00e9", "\u20ac", "\ue000", "\U0001f600", "\U0010ffff", "\ud800", "\udfff"]),
)
_text = st.text(_chars, max_size=8)
# The forms the scan accepts: integers of up to 18 digits, finite floats.
_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(10**18) + 1, 10**18 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)
_details = st.dictionaries(_text, _value, max_size=5)
# Beyond them: what the scan leaves to is_canonical (still canonical when encoded).
_odd_value = st.recursive(
    _scalar | st.integers() | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)
_odd_details = st.dictionaries(_text, _odd_value, max_size=5)


def _other_ways(d: dict[str, Any]) -> list[str]:
    """The same object written as something other than json.dumps(d, sort_keys=True) may."""
    ways = [json.dumps(d), json.dumps(d, sort_keys=True, ensure_ascii=False)]
    ways.append(json.dumps(d, sort_keys=True, separators=(",", ":")))
    ways.append(json.dumps(d, sort_keys=True, indent=1))
    try:
        ways.append(orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode())
    except (TypeError, orjson.JSONEncodeError):
        pass
    return ways


@settings(max_examples=400, deadline=None)
@given(_details)
def test_it_accepts_the_canonical_text_of_any_details(d: dict[str, Any]) -> None:
    text = canonical_details(d)
    assert is_canonical(text)
    assert accepts(text)


@settings(max_examples=400, deadline=None)
@given(_odd_details)
def test_whatever_it_accepts_is_canonical(d: dict[str, Any]) -> None:
    text = canonical_details(d)
    for t in [text, *_other_ways(d)]:
        assert not accepts(t) or is_canonical(t), t


_mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "swap"]),
    st.integers(0, 10**6),
    st.one_of(st.sampled_from(list(' ",:{}[]\\0123456789.eE+-ubfnrtaAxX')), st.characters()),
)


@settings(max_examples=600, deadline=None)
@given(_odd_details, st.lists(_mutation, min_size=1, max_size=3))
def test_a_mutated_text_is_accepted_only_if_it_is_canonical(
    d: dict[str, Any], mutations: list[tuple[str, int, str]]
) -> None:
    t = canonical_details(d)
    for how, at, c in mutations:
        i = at % (len(t) + 1)
        if how == "insert":
            t = t[:i] + c + t[i:]
        elif how == "delete":
            t = t[:i] + t[i + 1 :]
        elif how == "replace":
            t = t[:i] + c + t[i + 1 :]
        elif i + 1 < len(t):
            t = t[:i] + t[i + 1] + t[i] + t[i + 2 :]
    assert not accepts(t) or is_canonical(t), t


# Texts at each edge of the scan, with what is_canonical says of them.
EDGES = [
    ('{"a": 1.5}', True),
    ('{"a": 1e+16}', True),
    ('{"a": 1e16}', False),
    ('{"a": 1E+16}', False),
    ('{"a": -0.0}', True),
    ('{"a": 5e-324}', True),
    ('{"a": 1.50}', False),
    ('{"a": 1.}', False),
    ('{"a": .5}', False),
    ('{"a": 1e+400}', False),
    ('{"a": -0}', False),
    ('{"a": 01}', False),
    ('{"a": -}', False),
    ('{"\\ue000": 2, "\\ud83d\\ude00": 1}', True),  # astral sorts after U+E000
    ('{"\\ud83d\\ude00": 1, "\\ue000": 2}', False),
    ('{"\\ud83d": 1, "\\ue000": 2}', True),  # a lone surrogate sorts as itself
    ('{"a": "\\u00e9"}', True),
    ('{"a": "\\u00E9"}', False),
    ('{"a": "\\u0041"}', False),
    ('{"a": "\\u0008"}', False),
    ('{"a": "\\b\\f\\n\\r\\t\\"\\\\"}', True),
    ('{"a": "\\/"}', False),
    ('{"a": "\\u007f\\u001f"}', True),
    ('{"a": "\x7f"}', False),  # DEL is escaped
    ('{"a": "\x1f"}', False),
    ('{"a": "\u00e9"}', False),
    ('{"": 1, "a": 2}', True),
    ('{"a": 1, "a": 2}', False),
    ('{"a": 1, "ab": 2}', True),
    ('{"ab": 1, "a": 2}', False),
    ('{"a": [], "b": {}, "c": [1, [2, {}]]}', True),
    ('{"a": [1,2]}', False),
    ('{"a" : 1}', False),
    ('{"a": true, "b": false, "c": null}', True),
    ('{"a": True}', False),
    ('{"a": 1}x', False),
    ('{"a": 1}{}', False),
    (" {}", False),
    ("{}", True),
    ("[]", False),
    ('"{}"', False),
    ("", False),
    ("{", False),
    ('{"a": "', False),
    ('{"a": "\\u00e', False),
    ('{"a": "\\', False),
]
# Canonical, but left to is_canonical: the scan does not read these forms.
LEFT = [
    '{"a": NaN}',
    '{"a": Infinity, "b": -Infinity}',
    '{"a": 1234567890123456789}',
    '{"a": ' + str(-(2**70)) + "}",
    '{"a": ' + "[" * 70 + "]" * 70 + "}",
]


@pytest.mark.parametrize(("text", "canonical"), EDGES)
def test_the_edges(text: str, canonical: bool) -> None:
    assert is_canonical(text) is canonical
    assert accepts(text) is canonical


@pytest.mark.parametrize("text", LEFT)
def test_what_it_leaves_to_the_python_check(text: str) -> None:
    assert is_canonical(text)
    assert not accepts(text)
    assert first_noncanonical_c([text]) is None


def test_what_is_not_an_ascii_str_is_left_too() -> None:
    class Text(str):
        pass

    things: list[Any] = [Text("{}"), b"{}", None, 1, {}, '{"a": "\u00e9"}']
    for thing in things:
        assert not accepts(thing)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            _odd_details.map(canonical_details),
            st.sampled_from([t for t, _ in EDGES] + LEFT),
            st.sampled_from([None, 5, b"{}"]),
        ),
        max_size=12,
    )
)
def test_first_noncanonical_answers_as_the_python_check(texts: list[Any]) -> None:
    assert first_noncanonical_c(texts) == first_noncanonical_py(texts)


def test_prefix_starts_where_it_is_told() -> None:
    assert prefix_native is not None
    texts = ["{}", '{"a": 1}', "[]", "{}"]
    assert [prefix_native(texts, i) for i in range(5)] == [2, 2, 2, 4, 4]
    with pytest.raises(TypeError):
        prefix_native(tuple(texts), 0)  # type: ignore[arg-type]


def test_no_memory_is_left_behind() -> None:
    texts = [canonical_details({"x": i, "f": i / 7, "s": "\u00e9\U0001f600"}) for i in range(200)]
    texts += ['{"a": 1.50}', '{"a": NaN}']

    def round_() -> None:
        for i in range(len(texts)):
            assert prefix_native is not None
            prefix_native(texts, i)

    assert grown_bytes(round_) < 4096
