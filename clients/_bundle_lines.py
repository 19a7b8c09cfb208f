"""A format 2 bundle laid out as export writes it: its rows parsed in the ranges that verify them.

Export writes one row a line (docs/protocol.md section 4). A JSON string
cannot hold a raw newline, so in such a file every line between
``"entries":[`` and ``]`` is one row, and each range of lines can be parsed
on its own, in the forked process that verifies it (the parent parses only
the rest of the file). Any other layout, or a line that is not one row, is
read by one parse of the whole file, as before: the result is the same.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from clients._errors import UnreadableExport

_OPEN = b'"entries":[\n'
_CLOSE = b"\n]"


@dataclass(slots=True)
class RowLines:
    """The entries of a format 2 bundle, one unparsed row a line (each but the last ends in ``,``)."""

    lines: list[bytes]

    def __len__(self) -> int:
        return len(self.lines)

    def rows(self, lo: int, hi: int) -> list[Any] | None:
        """Rows ``lo..hi-1`` parsed, or None if those lines are not one row each."""
        last = hi == len(self.lines)
        part = self.lines[lo:hi]
        if not part or any(not line.endswith(b",") for line in part[: len(part) - last]):
            return None
        blob = b"".join(part)
        try:
            rows = orjson.loads(b"[" + (blob if last else blob[:-1]) + b"]")
        except orjson.JSONDecodeError:
            return None
        return rows if len(rows) == hi - lo else None

    def parse(self) -> list[Any]:
        """Every row: what one parse of the whole file gives as its entries."""
        try:
            entries: list[Any] = orjson.loads(b"[" + b"\n".join(self.lines) + b"]")
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
    lines = raw[first:end].split(b"\n") if end >= first else []
    return doc, RowLines(lines)
