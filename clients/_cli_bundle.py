"""``courtroom-client verify``: a bundle or an export, which keys to trust, and the report.

A bundle is one JSON document, an object whose ``format`` names a courtroom
bundle, however it is laid out (export writes one row a line; another tool
may write it on one line with its keys sorted, or indented). An export is JSON
Lines: every line one whole entry. So the first line that is not blank tells
them apart: a whole JSON object whose ``format`` names a bundle, or the start
of an object that goes on over more lines, is a bundle; anything else is the
first line of an export. A file that starts like a document but is not one,
and never names a bundle's format, is read as JSON Lines after all, so that
the error names its first bad line.

Only the first ``HEAD`` bytes are looked at first. An export is then read a
line at a time as it is verified; a bundle is read whole once, as
:func:`clients._bundle.load_bundle` reads it (a file from disk by its path, so
export's layout keeps its rows unparsed for the processes that verify them),
and a bundle on one line is parsed once, for both the look and the verify.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
import httpx2
import orjson

from clients._bundle import (
    checked_bundle,
    keys_from_document,
    parse_bundle,
    parse_json,
    verify_bundle,
)
from clients._cli_support import EXIT_FAILED, EXIT_UNREADABLE, fail
from clients._errors import HTTPError, UnreadableExport
from clients._http import HttpApi
from protocol.bundle import FORMAT

# Bytes read to tell a bundle from an export; a first line longer than this
# (a one-line bundle, or an export whose first entry is that long) is read whole.
HEAD = 1 << 16

_MARK = FORMAT.rpartition("/")[0] + "/"  # "courtroom-bundle/": any version is a bundle
_MARKED = b'"' + _MARK.encode()
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


def read_input(file: Path, stack: ExitStack) -> dict[str, Any] | Iterator[bytes]:
    """What ``verify`` was given (``-``: stdin): a bundle, parsed, or an export's lines.

    The lines are read from the file as they are consumed, so ``stack`` keeps
    the file open until the caller is done with them.

    Raises:
        UnreadableExport: the file cannot be read, or it is a bundle that does not parse.
    """
    if str(file) == "-":
        return _read(sys.stdin.buffer, None, "stdin")
    try:
        f = stack.enter_context(open(file, "rb"))
    except OSError as exc:
        raise UnreadableExport(f"cannot read {file}: {exc.strerror or exc}") from None
    return _read(f, lambda: Path(file).read_bytes(), str(file))


def _read(
    f: IO[bytes], read_whole: Callable[[], bytes] | None, name: str
) -> dict[str, Any] | Iterator[bytes]:
    """``read_whole``: the whole file again, in one read (None: only what is left of ``f``)."""

    def rest(head: bytes) -> bytes:
        try:
            return read_whole() if read_whole is not None else head + f.read()
        except OSError as exc:
            raise UnreadableExport(f"cannot read {name}: {exc.strerror or exc}") from None

    head = b""
    try:  # a pipe or a terminal may give less than asked before its end
        while len(head) < HEAD and (chunk := f.read(HEAD - len(head))):
            head += chunk
    except OSError as exc:
        raise UnreadableExport(f"cannot read {name}: {exc.strerror or exc}") from None
    whole = len(head) < HEAD
    kind = _kind(head, whole)
    if kind is None:
        head, whole = rest(head), True
        kind = _kind(head, whole)
        assert kind is not None
    is_bundle, doc = kind
    if not is_bundle:
        return _lines(head, None if whole else f, name)
    if doc is not None:
        return checked_bundle(doc)
    text = head if whole else rest(head)
    try:
        return parse_bundle(text)
    except UnreadableExport:
        if _MARKED in text:  # a bundle's, cut or broken, or of a format not read here
            raise
    # Not one JSON document, nor a bundle's: JSON Lines, whose reading names the bad line.
    return _lines(text, None, name)


def _kind(head: bytes, whole: bool) -> tuple[bool, Any] | None:
    """(a bundle?, the document when its one line was all of ``head``), from the first
    line that is not blank; None when that line goes on past ``head``."""
    found = _NOT_BLANK.search(head)
    if found is None:
        return (False, None) if whole else None
    start = found.start()
    if head[start] != ord("{"):  # a bundle is an object
        return False, None
    end = head.find(b"\n", start)
    if end < 0 and not whole:
        return None
    line = memoryview(head)[start : len(head) if end < 0 else end]
    try:
        value = parse_json(line)
    except UnicodeDecodeError:
        return False, None
    except ValueError as exc:
        # A JSON string holds no raw newline, so a document laid out over lines
        # begins with a line that is a beginning of JSON, cut only at its end; a
        # line of JSON Lines is a whole value, or is broken inside.
        pos, text = getattr(exc, "pos", 0), getattr(exc, "doc", "")
        return (isinstance(text, str) and pos >= len(text.rstrip())), None
    if not (isinstance(value, dict) and str(value.get("format", "")).startswith(_MARK)):
        return False, None
    alone = whole and (end < 0 or _NOT_BLANK.search(head, end) is None)
    return True, value if alone else None


def _lines(head: bytes, more: IO[bytes] | None, name: str) -> Iterator[bytes]:
    """The lines of ``head`` and then of ``more`` (the rest of the file), as a file gives them."""
    pos = 0
    while (end := head.find(b"\n", pos)) >= 0:
        yield head[pos : end + 1]
        pos = end + 1
    try:
        tail = head[pos:] + (more.readline() if more is not None else b"")
        if tail:
            yield tail
        if more is not None:
            yield from more
    except OSError as exc:
        raise UnreadableExport(f"cannot read {name}: {exc.strerror or exc}") from None


def trusted_keys(keys_given: tuple[str, ...], keys_doc: str | None) -> dict[str, bytes] | None:
    """The keys of ``--key`` and ``--keys`` (None: neither was given).

    Raises:
        UnreadableExport: a key that is not one, a key list that cannot be read or fetched.
    """
    if not keys_given and keys_doc is None:
        return None
    out: dict[str, bytes] = {}
    for text in keys_given:
        out.update(keys_from_document([{"verifier_key": text}]))
    if keys_doc is not None:
        if keys_doc.startswith(("http://", "https://")):
            doc = fetch_keys(keys_doc)
        else:
            try:
                doc = orjson.loads(Path(keys_doc).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise UnreadableExport(f"cannot read keys from {keys_doc}: {exc}") from None
        out.update(keys_from_document(doc))
    return out


def fetch_keys(url: str) -> Any:
    """The JSON document at ``url``.

    Raises:
        UnreadableExport: no answer, an error status, not JSON, not a URL: the
            keys to verify with are unknown, so nothing was verified.
    """
    try:
        return asyncio.run(fetch_json(url))
    except (HTTPError, httpx2.InvalidURL, ValueError) as exc:
        raise UnreadableExport(f"cannot fetch keys from {url}: {exc}") from None


async def fetch_json(url: str) -> Any:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    async with HttpApi(f"{scheme}://{host}") as api:
        # A published key list may sit behind a redirect (http to https, a moved page).
        return await api.request("GET", "/" + path, follow_redirects=True)


def report_bundle(
    doc: dict[str, Any],
    trusted: dict[str, bytes] | None,
    as_json: bool,
    require_complete: bool,
) -> None:
    """Verify a bundle and print the report; exits 1 unless it verifies."""
    try:
        report = verify_bundle(doc, trusted, require_complete=require_complete)
    except UnreadableExport as exc:  # a row range that does not parse after all
        fail(f"unreadable: {exc}", EXIT_UNREADABLE)
    if as_json:
        click.echo(orjson.dumps(report.as_dict()).decode())
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        for failure in report.failures:
            click.echo(f"FAILED: {failure}")
        if report.valid:
            click.echo(
                f"valid: {report.entries} entries, {report.checkpoints} signed checkpoints,"
                f" signed through #{report.signed_size}"
            )
        else:
            click.echo(f"invalid: {len(report.failures)} failure(s)")
    if not report.valid:
        sys.exit(EXIT_FAILED)
