"""``courtroom-client``: watch a session, act as a scripted judge, export and verify logs.

Exit statuses: 0 success; 1 the work failed (a refused command, a terminal
close, an export that does not verify); 2 bad usage or unreadable input (click's
own convention); 3 ``watch`` ended normally but what it received did not verify.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click
import orjson

from clients._bundle import keys_from_document, load_bundle, verify_bundle
from clients._connection import CourtroomClient
from clients._errors import ClientError, CommandError, UnreadableExport
from clients._http import HttpApi
from clients._messages import Event, Tick, Welcome
from clients._script import ScriptError, Send, Step, Wait, parse_script
from clients._status import ConnectionStatus
from clients._verify import verify_export

__all__ = ["main"]

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_UNREADABLE = 2
EXIT_UNVERIFIED = 3


def _fail(message: str, status: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine; a client error ends the program with its message, not a traceback."""

    async def wrapper() -> T:
        return await coro

    try:
        return asyncio.run(wrapper())
    except ClientError as exc:
        _fail(str(exc))
    except TimeoutError:
        _fail("timed out waiting for the server")
    except KeyboardInterrupt:
        click.echo("-- stopped (Ctrl-C)", err=True)
        sys.exit(130)


def _status_line(status: ConnectionStatus) -> None:
    if status.state == "connected" and status.welcome is not None:
        w = status.welcome
        note = " (recovered)" if w.recovered else ""
        click.echo(f"-- connected: head #{w.head_sequence}{note}", err=True)
    elif status.state == "disconnected":
        when = f"; reconnecting in {status.delay:.2f} s" if status.delay is not None else ""
        click.echo(f"-- disconnected ({_why(status)}){when}", err=True)
    elif status.state == "closed":
        click.echo(f"-- closed ({_why(status)})", err=True)


def _why(status: ConnectionStatus) -> str:
    parts = [str(status.code) if status.code is not None else "", status.reason]
    return " ".join(p for p in parts if p) or "no reason given"


class Names:
    """Display names of a session's users, learnt from what the watch receives.

    The welcome's snapshot names every participant, and a participant's
    arrival (``PARTICIPANT_JOINED`` / ``RECONNECTED``) carries the name. Anyone
    else (an organiser acting over HTTP, a signed-in observer) stays ``user ID``.
    """

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def learn_welcome(self, welcome: Welcome) -> None:
        participants = welcome.session.get("participants")
        if isinstance(participants, dict):
            for user_id, p in participants.items():
                if isinstance(p, dict):
                    self._set(user_id, p.get("name"))

    def learn(self, event: Event) -> None:
        if event.event_type in ("PARTICIPANT_JOINED", "PARTICIPANT_RECONNECTED"):
            self._set(event.actor_id, event.details.get("name"))

    def _set(self, user_id: object, name: object) -> None:
        if isinstance(user_id, str) and isinstance(name, str) and name.strip():
            self._names[user_id] = name.strip()

    def of(self, user_id: str) -> str:
        return self._names.get(user_id) or f"user {user_id}"


def format_event(event: Event, names: Names | None = None) -> str:
    """One line for an event: ``#seq time TYPE by NAME {details}``."""
    clock = event.timestamp[11:23]  # HH:MM:SS.fff of the fixed-width timestamp
    if event.actor_id is None:
        actor = ""
    else:
        actor = f" by {(names or Names()).of(event.actor_id)}"
    details = orjson.dumps(event.details, option=orjson.OPT_SORT_KEYS).decode()
    return f"#{event.sequence_number:<5} {clock} {event.event_type}{actor} {details}"


def format_tick(tick: Tick) -> str:
    """One clock line: ``clock mm:ss.s running|paused turn <id> (#seq)``."""
    ms = max(tick.remaining_ms, 0)
    minutes, rest = divmod(ms, 60_000)
    sign = "-" if tick.remaining_ms < 0 else " "
    state = "running" if tick.running else "paused"
    return (
        f"clock {sign}{minutes:02d}:{rest / 1000:04.1f} {state} "
        f"turn {tick.turn_id} (#{tick.sequence_number})"
    )


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("password", hide_input=True, err=True)
    return value


async def _token(
    url: str, token: str | None, username: str | None, password_stdin: bool
) -> str | None:
    if token is not None or username is None:
        return token
    async with HttpApi(url) as api:
        return await api.login(username, _read_password(password_stdin))


def _auth_options(f: Any) -> Any:
    f = click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")(f)
    f = click.option("--username", "-u", help="Sign in with this account (password asked).")(f)
    f = click.option(
        "--token", envvar="COURTROOM_TOKEN", help="A bearer token (or $COURTROOM_TOKEN)."
    )(f)
    return f


def _check_auth(token: str | None, username: str | None) -> None:
    if token is not None and username is not None:
        raise click.UsageError("give --token or --username, not both")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Client tools for a courtroom server (URL is like http://127.0.0.1:8000)."""


@main.command()
@click.argument("url")
@click.argument("session_id")
@_auth_options
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
    _check_auth(token, username)
    if as_ == "participant" and role is None:
        raise click.UsageError("--as participant needs --role")

    names = Names()

    def on_status(status: ConnectionStatus) -> None:
        if status.welcome is not None:
            names.learn_welcome(status.welcome)
        _status_line(status)

    async def go() -> bool:
        bearer = await _token(url, token, username, password_stdin)
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

    if not _run(go()):
        sys.exit(EXIT_UNVERIFIED)


@main.command()
@click.argument("url")
@click.argument("session_id")
@click.argument("script", type=click.File("r"))
@_auth_options
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
    _check_auth(token, username)
    if token is None and username is None:
        raise click.UsageError("a judge needs --token or --username")
    try:
        steps = parse_script(script.read())
    except ScriptError as exc:
        _fail(f"{script.name}: {exc}", EXIT_UNREADABLE)

    async def go() -> int:
        bearer = await _token(url, token, username, password_stdin)
        client = CourtroomClient(
            url,
            session_id,
            token=bearer,
            as_="observer" if observer else "participant",
            role=None if observer else role,
            resume_from=None,  # a judge acts now; it does not need the history
            subscribe=events,
            on_status=_status_line,
        )
        async with client:
            printer = asyncio.create_task(_print_events(client)) if events else None
            try:
                return await run_script(client, steps, keep_going=keep_going)
            finally:
                if printer is not None:
                    printer.cancel()
                    await asyncio.gather(printer, return_exceptions=True)

    status = _run(go())
    if status:
        sys.exit(status)


async def _print_events(client: CourtroomClient) -> None:
    names = Names()
    if client.welcome is not None:
        names.learn_welcome(client.welcome)
    async for msg in client:
        if isinstance(msg, Event):
            names.learn(msg)
            click.echo(format_event(msg, names))


async def run_script(
    client: CourtroomClient, steps: list[Step], *, keep_going: bool = False
) -> int:
    """Run parsed steps on a connected client, echoing each; returns the exit status.

    Args:
        client: a connected client.
        steps: from :func:`parse_script`.
        keep_going: go on after a refusal of a step without ``-``.

    Returns:
        0 when every step that had to succeed did, else 1.
    """
    status = 0
    for step in steps:
        if isinstance(step, Wait):
            click.echo(f"> wait {step.seconds:g}")
            await asyncio.sleep(step.seconds)
            continue
        assert isinstance(step, Send)
        click.echo(f"> {step.text}")
        try:
            if step.type == "ping":
                rtt = await client.ping()
                click.echo(f"< pong {rtt * 1000:.1f} ms")
            elif step.type == "leave":
                await client.leave()
                click.echo("< left")
                return status
            else:
                result = await client.command(step.type, **step.fields)
                click.echo(f"< ok {orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode()}")
        except CommandError as exc:
            click.echo(f"< error {exc.code}: {exc.message}")
            if not step.may_fail:
                status = EXIT_FAILED
                if not keep_going:
                    return status
    return status


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
@_auth_options
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
    _check_auth(token, username)
    if token is None and username is None:
        raise click.UsageError("the export needs --token or --username")

    async def go() -> int:
        async with HttpApi(url, token=token) as api:
            if username is not None:
                await api.login(username, _read_password(password_stdin))
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

    n = _run(go())
    what = "bytes of bundle" if as_bundle else "entries"
    click.echo(f"exported {n} {what} to {output}", err=True)


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

    Exit 0 and "valid: N entries, head HASH" when every entry chains (chain
    v1); exit 1 naming the first bad sequence number when not; exit 2 when the
    file cannot be read as JSON Lines.

    A bundle (from "export --bundle") is also checked against its signed
    checkpoints: exit 0 only when every entry, signature and checkpoint verifies
    and a completed session reaches its final checkpoint; each failure is named.
    """
    bundle_options = bool(keys_given or keys_doc or require_complete)
    if str(file) != "-" and (bundle_options or _is_bundle(file)):
        _verify_bundle(file, as_json, keys_given, keys_doc, require_complete)
        return
    try:
        result = verify_export(sys.stdin.buffer if str(file) == "-" else file)
    except UnreadableExport as exc:
        _fail(f"unreadable: {exc}", EXIT_UNREADABLE)
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


def _is_bundle(file: Path) -> bool:
    try:
        with open(file, "rb") as f:
            start = f.read(200)
    except OSError:
        return False
    return start.lstrip().startswith(b"{") and b'"courtroom-bundle/' in start


def _trusted_keys(keys_given: tuple[str, ...], keys_doc: str | None) -> dict[str, bytes] | None:
    if not keys_given and keys_doc is None:
        return None
    out: dict[str, bytes] = {}
    for text in keys_given:
        out.update(keys_from_document([{"verifier_key": text}]))
    if keys_doc is not None:
        if keys_doc.startswith(("http://", "https://")):
            doc = _run(_fetch_json(keys_doc))
        else:
            try:
                doc = orjson.loads(Path(keys_doc).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise UnreadableExport(f"cannot read keys from {keys_doc}: {exc}") from None
        out.update(keys_from_document(doc))
    return out


async def _fetch_json(url: str) -> Any:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    async with HttpApi(f"{scheme}://{host}") as api:
        return await api.request("GET", "/" + path)


def _verify_bundle(
    file: Path,
    as_json: bool,
    keys_given: tuple[str, ...],
    keys_doc: str | None,
    require_complete: bool,
) -> None:
    try:
        trusted = _trusted_keys(keys_given, keys_doc)
        report = verify_bundle(load_bundle(file), trusted, require_complete=require_complete)
    except UnreadableExport as exc:
        _fail(f"unreadable: {exc}", EXIT_UNREADABLE)
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


if __name__ == "__main__":  # pragma: no cover
    main()
