"""Canonical details texts: ``json.dumps(d, sort_keys=True)`` of the object they parse to.

A format 2 bundle carries each entry's details as the text that was hashed
(docs/protocol.md section 4); a verifier must check that text is canonical,
or two texts of one object could both verify. ``is_canonical`` is the
reference: parse, encode again, compare. ``first_noncanonical`` checks a whole
page of texts: by a scan of the text in C where the package was built with it
(``protocol/_canonical_native.c``, which accepts only what it is sure of and
leaves every other text to ``is_canonical``), else by one parse each and one
encoding of them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from protocol._chain import canonical_json


def is_canonical(text: Any) -> bool:
    """Whether ``text`` is ``json.dumps(d, sort_keys=True)`` of the object ``d`` it parses to.

    The parse is the standard module's (the reference) unless orjson's gives
    the same text back: orjson reads an integer beyond 64 bits as a float, and
    refuses NaN and lone surrogates, where the standard module reads them exactly.
    """
    if type(text) is not str:
        return False
    try:
        d = orjson.loads(text)
        if type(d) is dict and canonical_json(d) == text:
            return True
    except orjson.JSONDecodeError:
        pass
    try:
        d = json.loads(text)
    except ValueError:
        return False
    return type(d) is dict and canonical_json(d) == text


def first_noncanonical_py(texts: list[Any]) -> int | None:
    """``first_noncanonical`` without the C scan.

    All at once while they are: one parse each (orjson), then one encoding of
    the whole list, compared with the texts joined as that encoding joins
    them. Each text parsed on its own to one object, so the two strings can
    only be equal if every text is its object's encoding (a text and its
    object's encoding both end where their first ``{`` closes, and a text
    with anything around that does not parse).
    """
    try:
        objects = list(map(orjson.loads, texts))
        whole = "[" + ", ".join(texts) + "]"
    except (orjson.JSONDecodeError, TypeError):
        objects = None
    if objects is not None and set(map(type, objects)) <= {dict}:
        if canonical_json(objects) == whole:
            return None
    return next((i for i, t in enumerate(texts) if not is_canonical(t)), None)


def _native() -> Callable[[list[Any], int], int] | None:
    try:
        from protocol._canonical_native import prefix
    except ImportError:  # built without a C compiler
        return None
    return prefix


prefix_native = _native()


def first_noncanonical_c(texts: list[Any]) -> int | None:
    """``first_noncanonical`` by the C scan, ``is_canonical`` judging what it leaves."""
    assert prefix_native is not None
    i, n = 0, len(texts)
    while (i := prefix_native(texts, i)) < n:
        if not is_canonical(texts[i]):
            return i
        i += 1
    return None


# The index of the first text that is not canonical details, or None.
first_noncanonical: Callable[[list[Any]], int | None] = (
    first_noncanonical_py if prefix_native is None else first_noncanonical_c
)
