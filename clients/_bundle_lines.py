"""A format 2 bundle laid out as export writes it: its rows parsed in the ranges that verify them.

Export writes one row a line (docs/protocol.md section 4). A JSON string
cannot hold a raw newline, so in such a file every line between
``"entries":[`` and ``]`` is one row, and each range of lines can be parsed
on its own, in the forked process that verifies it (the parent parses only
the rest of the file). A range's rows must parse on their own and be one a
line; any other layout, or a range that is not, is read by one parse of the
whole file, as before: the result is the same.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from clients._errors import UnreadableExport

_OPEN = b'"entries":[\n'
_CLOSE = b"\n]"


class RowLines:
    """The entries of a format 2 bundle, unparsed: ``raw[first:end]``, one row a line
    (each but the last ends in ``,``). Nothing is split up front: a range finds
    its own lines in the file (so forked processes copy no per-line objects)."""

    def __init__(self, raw: bytes, first: int, end: int) -> None:
        self._raw, self._first, self._end = raw, first, end
        self._count = raw.count(b"\n", first, end) + 1 if end > first else 0

    def __len__(self) -> int:
        return self._count

    def _start(self, i: int) -> int:
        """Where line ``i`` begins: from a guess by size, counted, then walked line by line."""
        raw, first, end = self._raw, self._first, self._end
        if i <= 0:
            return first
        if i >= self._count:
            return end + 1
        pos = first + (end - first) * i // self._count
        k = raw.count(b"\n", first, pos)  # pos is inside line k
        for _ in range(i - k):
            pos = raw.find(b"\n", pos, end) + 1
        if k >= i:
            for _ in range(k - i + 1):
                pos = raw.rfind(b"\n", first, pos)
            pos += 1
        return pos

    def rows(self, lo: int, hi: int) -> list[Any] | None:
        """Rows ``lo..hi-1`` parsed, or None if those lines are not one row each."""
        a, b = self._start(lo), self._start(hi) - 1  # b: the newline after line hi-1
        blob = memoryview(self._raw)[a : min(b, self._end)]
        if hi < self._count:
            if not blob or blob[-1] != 0x2C:  # ","
                return None
            blob = blob[:-1]
        try:
            rows = orjson.loads(b"[" + blob + b"]")
        except orjson.JSONDecodeError:
            return None
        return rows if type(rows) is list and len(rows) == hi - lo else None

    def parse(self) -> list[Any]:
        """Every row: what one parse of the whole file gives as its entries."""
        if not self._count:
            return []
        try:  # the array itself, "[" to "]", as it stands in the file
            entries: list[Any] = orjson.loads(
                memoryview(self._raw)[self._first - 2 : self._end + 2]
            )
        except orjson.JSONDecodeError as exc:
            raise UnreadableExport(f"not a JSON bundle ({exc})") from None
        return entries


def split_rows(raw: bytes) -> tuple[dict[str, Any], RowLines] | None:
    """The bundle without its entries, and its entries' lines; None for another layout.

    The rest of the file is parsed with a random placeholder where the rows
    were: if the parse keeps it as ``entries``, no other ``entries`` key
    (before or after) would have won a parse of the whole file.
    """
    start = raw.find(_OPEN)
    if start < 0:
        return None
    first = start + len(_OPEN)
    end = raw.find(_CLOSE, first - 1)
    if end < 0:
        return None
    mark = secrets.token_hex(16)
    try:
        doc = orjson.loads(raw[:start] + f'"entries":"{mark}"'.encode() + raw[end + len(_CLOSE) :])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("entries") != mark:
        return None
    return doc, RowLines(raw, first, max(first, end))
