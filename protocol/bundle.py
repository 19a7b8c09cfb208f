"""The bundle's file format (docs/protocol.md section 4, "The bundle"): versions and layout.

Format 2 gives each entry as the array of the eight fields chain v1 hashes,
the details as the canonical text that was hashed. It is written one row a
line, which lets a verifier parse ranges of rows in parallel (the format does
not require it: any JSON whitespace reads the same).
"""

from __future__ import annotations

from typing import Any

import orjson

FORMAT_V1 = "courtroom-bundle/1"  # entries as objects, details as objects (still read)
FORMAT = "courtroom-bundle/2"  # what export writes
FORMATS = {FORMAT_V1: 1, FORMAT: 2}


def bundle_head(session_id: str, status: str) -> bytes:
    """The bundle's bytes up to its first row."""
    head = orjson.dumps({"format": FORMAT, "session_id": session_id, "status": status})
    return head[:-1] + b',"entries":['


def bundle_row(index: int, row: bytes) -> bytes:
    """Row number ``index`` (from 0; the JSON array of the entry's eight hashed fields,
    details as its canonical text) as written: one a line."""
    return (b"\n" if index == 0 else b",\n") + row


def bundle_tail(checkpoints: list[dict[str, Any]], keys: list[dict[str, Any]]) -> bytes:
    """The bundle's bytes after its last row."""
    return b"\n]," + orjson.dumps({"checkpoints": checkpoints, "keys": keys})[1:]
