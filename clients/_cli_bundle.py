"""``courtroom-client verify`` of a record bundle: which keys to trust, and the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from clients._bundle import keys_from_document, load_bundle, verify_bundle
from clients._cli_support import EXIT_FAILED, EXIT_UNREADABLE, fail, run
from clients._errors import UnreadableExport
from clients._http import HttpApi


def is_bundle(file: Path) -> bool:
    try:
        with open(file, "rb") as f:
            start = f.read(200)
    except OSError:
        return False
    return start.lstrip().startswith(b"{") and b'"courtroom-bundle/' in start


def trusted_keys(keys_given: tuple[str, ...], keys_doc: str | None) -> dict[str, bytes] | None:
    if not keys_given and keys_doc is None:
        return None
    out: dict[str, bytes] = {}
    for text in keys_given:
        out.update(keys_from_document([{"verifier_key": text}]))
    if keys_doc is not None:
        if keys_doc.startswith(("http://", "https://")):
            doc = run(fetch_json(keys_doc))
        else:
            try:
                doc = orjson.loads(Path(keys_doc).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise UnreadableExport(f"cannot read keys from {keys_doc}: {exc}") from None
        out.update(keys_from_document(doc))
    return out


async def fetch_json(url: str) -> Any:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    async with HttpApi(f"{scheme}://{host}") as api:
        return await api.request("GET", "/" + path)


def verify_bundle_file(
    file: Path,
    as_json: bool,
    keys_given: tuple[str, ...],
    keys_doc: str | None,
    require_complete: bool,
) -> None:
    try:
        trusted = trusted_keys(keys_given, keys_doc)
        report = verify_bundle(load_bundle(file), trusted, require_complete=require_complete)
    except UnreadableExport as exc:
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
