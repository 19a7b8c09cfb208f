"""A bundle's entries as the rows chain v1 hashes (docs/protocol.md section 4, "The bundle").

Version 1 entries are objects whose ``details`` is an object: each is turned
into a row of the eight hashed fields, re-encoding ``details`` canonically.
Version 2 entries already *are* those rows (arrays, ``details`` the canonical
text that was hashed): they are fed to ``ChainVerifier.feed_rows`` as parsed,
and the details texts are only checked to be canonical, all at once.
"""

from __future__ import annotations

from typing import Any

from protocol import ChainVerifier, canonical_json, first_noncanonical

ROW_FIELDS = (
    8  # session_id, sequence_number, timestamp, event_type, actor_id, details, previous_hash, hash
)


def _not_an_object() -> str:
    raise TypeError("details must be an object")


def rows_v1(entries: list[Any]) -> list[tuple[Any, ...]] | None:
    """The eight hashed fields of each entry, or None if one is not even shaped like one."""
    try:
        rows = [
            (
                e["session_id"],
                e["sequence_number"],
                e["timestamp"],
                e["event_type"],
                e["actor_id"],
                canonical_json(d) if type(d := e["details"]) is dict else _not_an_object(),
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


# -- version 2 ---------------------------------------------------------------------


def shaped_v2(entries: list[Any]) -> int:
    """How many leading entries are arrays of the eight fields (all of them, usually)."""
    if set(map(type, entries)) <= {list} and set(map(len, entries)) <= {ROW_FIELDS}:
        return len(entries)
    return next(i for i, e in enumerate(entries) if type(e) is not list or len(e) != ROW_FIELDS)


def feed_v2(chain: ChainVerifier, entries: list[Any], digests: list[bytes]) -> None:
    """Chain v1 over version 2 rows; a misshapen row or a details text that is not
    canonical breaks the log there (the earliest break is the one reported)."""
    k = shaped_v2(entries)
    rows = entries[:k] if k < len(entries) else entries
    bad = first_noncanonical([r[5] for r in rows])
    if bad is not None:
        k = bad
        rows = rows[:bad]
    if chain.feed_rows(rows, digests) and k < len(entries):
        row = entries[k]
        chain.reject(row[1] if bad is not None else None)
