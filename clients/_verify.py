"""Offline verification of a JSON Lines export, with no access to the server.

Each line is one entry with the section 1 fields; :class:`protocol.ChainVerifier`
checks sequence numbers, ``previous_hash`` links and recomputed hashes.
A file that cannot be *read* (missing, not UTF-8, a line that is not JSON)
raises :class:`UnreadableExport`; a file that reads but does not verify gives
a result with ``valid`` False and the first bad sequence number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from clients._errors import UnreadableExport
from protocol import ChainVerifier, VerifyResult

__all__ = ["verify_export", "verify_lines"]


def verify_lines(lines: Iterable[str | bytes]) -> VerifyResult:
    """Verify export lines in order; blank lines are skipped.

    Verification stops at the first entry that fails: every entry after it
    hangs off a broken link, so the first is the one to report.

    Args:
        lines: the lines of an export (with or without their newlines).

    Returns:
        ``valid``, the number of entries read, the head hash (of the last
        entry that verified) and ``first_invalid_sequence``.

    Raises:
        UnreadableExport: a line is not UTF-8 or not JSON.
    """
    verifier = ChainVerifier()
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise UnreadableExport("not UTF-8", number) from None
        if not text.strip():
            continue
        try:
            # The standard json module, as in the chain v1 reference formula: big
            # integers and every string survive exactly as they were hashed.
            entry = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnreadableExport(f"not JSON ({exc.msg})", number) from None
        # A line that is JSON but not an entry object is an invalid entry (a
        # tampered file), not an unreadable one: feed it and let it fail.
        if not verifier.feed(entry if isinstance(entry, dict) else {}):
            break
    return verifier.result()


def verify_export(source: str | Path | IO[bytes]) -> VerifyResult:
    """Verify an export file (a path, or an open binary file such as stdin).

    Raises:
        UnreadableExport: the file cannot be opened or read, or is not JSON Lines.
    """
    if not isinstance(source, str | Path):
        return verify_lines(source)
    try:
        with open(source, "rb") as f:
            return verify_lines(f)
    except OSError as exc:
        raise UnreadableExport(f"cannot read {source}: {exc.strerror or exc}") from None
