"""``courtroom-client``: watch a session, act as a scripted judge, export and verify logs.

Exit statuses: 0 success; 1 the work failed (a refused command, a terminal
close, an export that does not verify); 2 bad usage or unreadable input (click's
own convention); 3 ``watch`` ended normally but what it received did not verify.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
import orjson

from clients._cli_bundle import read_input, report_bundle, trusted_keys
from clients._cli_support import (
    EXIT_FAILED,
    EXIT_UNREADABLE,
    EXIT_UNVERIFIED,
    auth_options,
    bearer_token,
    check_auth,
    fail,
    need_auth,
    run,
    signed_in,
)
from clients._connection import CourtroomClient
from clients._display import Names, format_event, format_tick, status_line
from clients._errors import UnreadableExport
from clients._judge import print_events, run_script
from clients._messages import Tick
from clients._receipt import verify_receipt
from clients._script import ScriptError, parse_script
from clients._status import ConnectionStatus
from clients._urls import http_base
from clients._verify import verify_lines

__all__ = ["Names", "format_event", "format_tick", "main", "run_script"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Client tools for a courtroom server (URL is like http://127.0.0.1:8000)."""


@main.command()
@click.argument("url")
@click.argument("session_id")
@auth_options
@click.option(
    "--as",
    "as_",
    type=click.Choice(["observer", "participant"]),
    default="observer",
    show_default=True,
    help="Watch as an observer, or join as a participant.",
)
@click.option(
    "--role",
    type=click.Choice(["petitioner", "respondent", "judge", "moderator"]),
    help="A participant's role.",
)
@click.option("--speaker", type=click.IntRange(1, 4), help="A participant's speaker number.")
@click.option(
    "--from",
    "start",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Show entries after this sequence number.",
)
@click.option("--live", is_flag=True, help="Only what happens from now on (no history).")
@click.option("--ticks/--no-ticks", default=True, show_default=True, help="Show the clock lines.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print events as JSON Lines (an export) instead."
)
@click.option("--count", type=click.IntRange(1), help="Stop after this many events.")
@click.option("--until", "until", metavar="EVENT_TYPE", help="Stop after an event of this type.")
def watch(
    url: str,
    session_id: str,
    token: str | None,
    username: str | None,
    password_stdin: bool,
    as_: str,
    role: str | None,
    speaker: int | None,
    start: int,
    live: bool,
    ticks: bool,
    as_json: bool,
    count: int | None,
    until: str | None,
) -> None:
    """Follow a session live: one line per event, the clock as it ticks.

    Actors are shown by name where the session names them (participants).
    Runs until Ctrl-C (or --count / --until). Reconnects by itself (resuming
    where it was), verifies the chain as it goes, and says on stderr when it
    reconnects. Exits 3 if what it received did not verify.
    """
    check_auth(token, username)
    if as_ == "participant" and role is None:
        raise click.UsageError("--as participant needs --role")

    names = Names()

    def on_status(status: ConnectionStatus) -> None:
        if status.welcome is not None:
            names.learn_welcome(status.welcome)
        status_line(status)

    async def go() -> bool:
        bearer = await bearer_token(url, token, username, password_stdin)
        client = CourtroomClient(
            url,
            session_id,
            token=bearer,
            as_="participant" if as_ == "participant" else "observer",
            role=role,
            speaker=speaker,
            resume_from=None if live else start,
            on_status=on_status,
        )
        stop = "after --count/--until or " if count is not None or until else ""
        click.echo(f"-- watching {session_id}; stops {stop}on Ctrl-C", err=True)
        seen = 0
        async with client:
            async for msg in client:
                if isinstance(msg, Tick):
                    if ticks and not as_json:
                        click.echo(format_tick(msg))
                    continue
                names.learn(msg)
                if as_json:
                    click.echo(orjson.dumps(msg.as_entry()).decode())
                else:
                    click.echo(format_event(msg, names))
                seen += 1
                if (count is not None and seen >= count) or msg.event_type == until:
                    break
        if client.verified:
            click.echo(f"-- received through #{client.last_sequence}; chain verified", err=True)
        else:
            click.echo(f"-- CHAIN BROKEN at #{client.first_bad_sequence}", err=True)
        return client.verified

    if not run(go()):
        sys.exit(EXIT_UNVERIFIED)


@main.command()
@click.argument("url")
@click.argument("session_id")
@click.argument("script", type=click.File("r"))
@auth_options
@click.option(
    "--role",
    type=click.Choice(["judge", "moderator"]),
    default="judge",
    show_default=True,
    help="The bench role to join as.",
)
@click.option(
    "--observer",
    is_flag=True,
    help="Connect as an observer (the account still authorizes commands).",
)
@click.option("--keep-going", is_flag=True, help="Go on after a refused command.")
@click.option("--events", is_flag=True, help="Also print the events as they arrive.")
def judge(
    url: str,
    session_id: str,
    script: IO[str],
    token: str | None,
    username: str | None,
    password_stdin: bool,
    role: str,
    observer: bool,
    keep_going: bool,
    events: bool,
) -> None:
    """Run a judge's script of commands against a session, printing each reply.

    \b
    One step a line, for example:
      session.start
      wait 2.5
      log NOTE {"text": "counsel may proceed"}
      round.start ROUND_ID
      -session.pause        (a leading "-": a refusal does not stop the script)
      ping
      leave
    "#" starts a comment. Exits 1 at the first refusal (unless --keep-going).
    """
    check_auth(token, username)
    if token is None and username is None:
        raise click.UsageError("a judge needs --token or --username")
    try:
        steps = parse_script(script.read())
    except ScriptError as exc:
        fail(f"{script.name}: {exc}", EXIT_UNREADABLE)

    async def go() -> int:
        bearer = await bearer_token(url, token, username, password_stdin)
        client = CourtroomClient(
            url,
            session_id,
            token=bearer,
            as_="observer" if observer else "participant",
            role=None if observer else role,
            resume_from=None,  # a judge acts now; it does not need the history
            subscribe=events,
            on_status=status_line,
        )
        async with client:
            printer = asyncio.create_task(print_events(client)) if events else None
            try:
                return await run_script(client, steps, keep_going=keep_going)
            finally:
                if printer is not None:
                    printer.cancel()
                    await asyncio.gather(printer, return_exceptions=True)

    status = run(go())
    if status:
        sys.exit(status)


@main.command()
@click.argument("url")
@click.argument("session_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="Where to write the JSON Lines ('-' for stdout).",
)
@click.option(
    "--bundle",
    "as_bundle",
    is_flag=True,
    help="Write the record bundle instead: entries, signed checkpoints and their keys.",
)
@auth_options
def export(
    url: str,
    session_id: str,
    output: Path,
    as_bundle: bool,
    token: str | None,
    username: str | None,
    password_stdin: bool,
) -> None:
    """Download a session's log as JSON Lines, or its bundle (check either with "verify")."""
    need_auth(token, username, "the export")

    async def go() -> int:
        async with signed_in(url, token, username, password_stdin) as api:
            fetch = api.bundle if as_bundle else api.export
            if str(output) == "-":
                return await fetch(session_id, sys.stdout.buffer)
            partial = output.with_name(output.name + ".part")
            # Write aside and rename, so a failed download never looks like a
            # (truncated, yet valid) export.
            with open(partial, "wb") as f:
                try:
                    n = await fetch(session_id, f)
                except BaseException:
                    f.close()
                    partial.unlink(missing_ok=True)
                    raise
            partial.replace(output)
            return n

    n = run(go())
    what = "bytes of bundle" if as_bundle else "entries"
    click.echo(f"exported {n} {what} to {output}", err=True)


@main.command()
@click.argument("url")
@click.argument("session_id")
@click.option(
    "--sequence", type=click.IntRange(min=1), required=True, help="The entry's sequence number."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also keep the receipt (JSON) in this file.",
)
@click.option(
    "--keys",
    "keys_doc",
    metavar="URL_OR_FILE",
    help="Trust the keys of this document (default: the server's /.well-known/courtroom-keys).",
)
@auth_options
def receipt(
    url: str,
    session_id: str,
    sequence: int,
    output: Path | None,
    keys_doc: str | None,
    token: str | None,
    username: str | None,
    password_stdin: bool,
) -> None:
    """Fetch the receipt for an entry (a speaker's own submission) and check it.

    A receipt is the entry, a signed checkpoint that covers it and the entry's
    inclusion proof in that checkpoint's tree. Exit 0 when the entry's hash is
    its own, the checkpoint is signed by a trusted key and the proof reaches its
    root; otherwise each failure is named and it exits 1 (2: the keys could not
    be read or fetched).
    """
    need_auth(token, username, "a receipt")

    async def go() -> Any:
        async with signed_in(url, token, username, password_stdin) as api:
            path = f"/api/session/{session_id}/receipt"
            return await api.request("GET", path, params={"sequence": sequence})

    got = run(go())
    try:
        trusted = trusted_keys((), keys_doc or f"{http_base(url)}/.well-known/courtroom-keys")
    except UnreadableExport as exc:
        fail(f"unreadable: {exc}", EXIT_UNREADABLE)
    if output is not None:
        output.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2))
    failures = verify_receipt(got, trusted or {})
    for failure in failures:
        click.echo(f"FAILED: {failure}")
    if failures:
        sys.exit(EXIT_FAILED)
    e, cp = got["entry"], got["checkpoint"]
    click.echo(
        f"receipt holds: entry #{sequence} ({e['event_type']}, hash {e['hash']}) is in the log"
        f" of {cp['tree_size']} entries signed at {cp['time']} by key {cp['key_id']}"
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--expect-head", metavar="HASH", help="Also require this head hash (detects a truncated file)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--key",
    "keys_given",
    multiple=True,
    metavar="VERIFIER_KEY",
    help="Bundles: trust this signing key (name+keyid+base64, as /.well-known lists it).",
)
@click.option(
    "--keys",
    "keys_doc",
    metavar="URL_OR_FILE",
    help="Bundles: trust the keys of this /.well-known/courtroom-keys document.",
)
@click.option(
    "--require-complete",
    is_flag=True,
    help="Bundles: fail unless the log reaches its completion's signed checkpoint.",
)
def verify(
    file: Path,
    expect_head: str | None,
    as_json: bool,
    keys_given: tuple[str, ...],
    keys_doc: str | None,
    require_complete: bool,
) -> None:
    """Verify an export or a bundle offline, with no server.

    FILE ('-': stdin) is a bundle (from "export --bundle") when it is one JSON
    object whose "format" names a courtroom bundle, however it is laid out;
    otherwise it is read as a JSON Lines export, one entry a line.

    An export: exit 0 and "valid: N entries, head HASH" when every entry chains
    (chain v1); exit 1 naming the first bad sequence number when not.

    A bundle is also checked against its signed checkpoints: exit 0 only when
    every entry, signature and checkpoint verifies and a completed session
    reaches its final checkpoint; each failure is named, and it exits 1.

    Exit 2 when the file cannot be read as either, the keys to trust cannot
    be read or fetched, or an option does not apply to what FILE is.
    """
    bundle_options = bool(keys_given or keys_doc or require_complete)
    with ExitStack() as stack:
        try:
            trusted = trusted_keys(keys_given, keys_doc)
            given = read_input(file, stack)
        except UnreadableExport as exc:
            fail(f"unreadable: {exc}", EXIT_UNREADABLE)
        if isinstance(given, dict):
            if expect_head is not None:
                fail(
                    f"{'stdin' if str(file) == '-' else file} is a bundle: --expect-head checks"
                    " a JSON Lines export; a bundle's end is held by its signed checkpoints"
                    " (--require-complete for a session that has ended)",
                    EXIT_UNREADABLE,
                )
            report_bundle(given, trusted, as_json, require_complete)
            return
        if bundle_options:
            fail(
                f"{'stdin' if str(file) == '-' else file} is a JSON Lines export, not a bundle:"
                " --key, --keys and --require-complete check a bundle's signed checkpoints",
                EXIT_UNREADABLE,
            )
        try:
            result = verify_lines(given)
        except UnreadableExport as exc:
            fail(f"unreadable: {exc}", EXIT_UNREADABLE)
    head_ok = expect_head is None or (result.valid and result.head_hash == expect_head.lower())
    if as_json:
        click.echo(orjson.dumps({**result.as_dict(), "head_matches": head_ok}).decode())
    elif not result.valid:
        click.echo(
            f"invalid: first bad entry is sequence {result.first_invalid_sequence} "
            f"({result.entries} entries read)"
        )
    elif not head_ok:
        click.echo(f"invalid: head is {result.head_hash}, expected {expect_head}")
    else:
        click.echo(f"valid: {result.entries} entries, head {result.head_hash}")
    if not (result.valid and head_ok):
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
