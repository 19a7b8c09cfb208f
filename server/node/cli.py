"""``courtroom``: serve, migrate, manage users, seed a demo."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import Any

import click

from server.common.config import ConfigError, Settings, describe
from server.rules.state import ACCOUNT_ROLES

DEMO_PASSWORD = "courtroom-demo"
DEMO_TITLE = "Demo moot: Acme v. Zenith"
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("admin", "ADMIN", "Ada Admin"),
    ("judge", "JUDGE", "Judge Judy Hale"),
    ("faculty", "FACULTY", "Prof. Frank Ng"),
    ("pet1", "STUDENT", "Priya Petitioner"),
    ("pet2", "STUDENT", "Paul Petitioner"),
    ("res1", "STUDENT", "Rosa Respondent"),
    ("res2", "STUDENT", "Raj Respondent"),
)


def _settings() -> Settings:
    """The environment's settings; a bad value ends the command with one line naming it."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The courtroom server. Configuration comes from the environment
    (docs/deployment.md lists every variable; `courtroom config` shows them)."""


_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed the demo accounts and a session first.")
@click.option(
    "--log-level",
    type=click.Choice(_LEVELS),
    default=None,
    help="Log level (default: COURTROOM_LOG_LEVEL, else info).",
)
@click.option(
    "--root-path",
    default=None,
    help="URL prefix when served behind a proxy at a sub-path, e.g. /court "
    "(default: COURTROOM_ROOT_PATH).",
)
@click.option("--app", "app_path", default="server.node.main:app", hidden=True)
def serve(
    host: str,
    port: int,
    demo: bool,
    log_level: str | None,
    root_path: str | None,
    app_path: str,
) -> None:
    """Run one server node (uvicorn). Run more processes behind a proxy to scale out."""
    from server.common.logs import log_config
    from server.http.serve import run

    settings = _settings()
    if root_path is not None:
        root_path = root_path.rstrip("/")
        if root_path and not root_path.startswith("/"):
            raise click.BadParameter("must start with /", param_hint="--root-path")
    if demo:
        asyncio.run(_demo(settings))
    level = log_level or settings.log_level
    run(
        app_path,
        host=host,
        port=port,
        ws_max_size=settings.max_frame_bytes,
        log_level=level,
        root_path=settings.root_path if root_path is None else root_path,
        log_config=log_config(settings.log_format, level),
    )


@main.command("config")
def config_cmd() -> None:
    """Print the effective settings (secrets masked) and where each came from."""
    settings = _settings()
    rows = describe(settings)
    width = max(len(var) for var, _, _ in rows)
    for var, value, source in rows:
        click.echo(f"{var:<{width}}  {value}  ({source})")


@main.command("migrate")
def migrate_cmd() -> None:
    """Upgrade the database to the newest schema."""
    from store import migrate

    settings = _settings()
    settings.ensure_data_dir()
    asyncio.run(migrate(settings.database_url))
    click.echo("database is up to date")


@main.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ACCOUNT_ROLES), required=True)
@click.option("--name", default="", help="Display name.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
)
def create_user(username: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            raise click.ClickException("the passwords differ")
    if len(password) < 8:
        raise click.ClickException("a password needs at least 8 characters")
    user = asyncio.run(_create_user(_settings(), username, password, role, name))
    click.echo(f"created user {user['username']} (id {user['id']}, {user['role']})")


async def _with_store(settings: Settings) -> Any:
    from store import SessionStore, UserStore, migrate

    settings.ensure_data_dir()
    await migrate(settings.database_url)
    store = SessionStore(settings.database_url)
    return store, UserStore(store)


async def _create_user(
    settings: Settings, username: str, password: str, role: str, name: str
) -> dict[str, Any]:
    from protocol.errors import Conflict
    from server.common.auth import hash_password

    store, users = await _with_store(settings)
    try:
        return dict(await users.create(username, hash_password(password), role, name))
    except Conflict as exc:
        raise click.ClickException(exc.message) from None
    finally:
        await store.close()


@main.command()
def demo() -> None:
    """Seed the demo accounts (password: courtroom-demo) and a demo session."""
    asyncio.run(_demo(_settings()))


async def _demo(settings: Settings) -> None:
    from server.common.auth import hash_password
    from server.live.broker import MemoryBroker
    from server.live.courtroom import Courtroom
    from server.rules.session import RulesConfig
    from timers import system_clock

    store, users = await _with_store(settings)
    try:
        ids: dict[str, dict[str, Any]] = {}
        for username, role, name in DEMO_USERS:
            user = await users.by_username(username)
            if user is None:
                user = await users.create(username, hash_password(DEMO_PASSWORD), role, name)
            ids[username] = user
        existing = await store.list_sessions(["pending", "active", "paused"])
        demo = [s for s in existing if s["title"] == DEMO_TITLE]
        if demo:
            # A second `make run`: say again what to sign in with and where to go.
            sid = str(demo[0]["id"])
            click.echo(f"demo session {sid} (from an earlier run)")
        else:
            court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
            from server.common.auth import Principal

            judge = Principal(ids["judge"]["id"], "judge", "JUDGE", ids["judge"]["display_name"])
            committed = await court.create_session(judge.actor(), title=DEMO_TITLE)
            sid = committed.entries[0].session_id
            click.echo(f"demo session {sid}")
        click.echo(
            f"demo accounts: {', '.join(u for u, _, _ in DEMO_USERS)}; password {DEMO_PASSWORD}"
        )
    finally:
        await store.close()


if __name__ == "__main__":  # pragma: no cover
    main()


def _keys() -> None:
    from server.common.signing import keys_cli

    main.add_command(keys_cli)


_keys()
