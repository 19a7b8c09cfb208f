"""What every ``courtroom-client`` command shares: exit statuses, running, signing in."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import click

from clients._errors import ClientError
from clients._http import HttpApi

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_UNREADABLE = 2
EXIT_UNVERIFIED = 3


def fail(message: str, status: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine; a client error ends the program with its message, not a traceback."""

    async def wrapper() -> T:
        return await coro

    try:
        return asyncio.run(wrapper())
    except ClientError as exc:
        fail(str(exc))
    except TimeoutError:
        fail("timed out waiting for the server")
    except KeyboardInterrupt:
        click.echo("-- stopped (Ctrl-C)", err=True)
        sys.exit(130)


def read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("password", hide_input=True, err=True)
    return value


async def bearer_token(
    url: str, token: str | None, username: str | None, password_stdin: bool
) -> str | None:
    if token is not None or username is None:
        return token
    async with HttpApi(url) as api:
        return await api.login(username, read_password(password_stdin))


def auth_options(f: Any) -> Any:
    f = click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")(f)
    f = click.option("--username", "-u", help="Sign in with this account (password asked).")(f)
    f = click.option(
        "--token", envvar="COURTROOM_TOKEN", help="A bearer token (or $COURTROOM_TOKEN)."
    )(f)
    return f


def check_auth(token: str | None, username: str | None) -> None:
    if token is not None and username is not None:
        raise click.UsageError("give --token or --username, not both")


def need_auth(token: str | None, username: str | None, what: str) -> None:
    """``what`` (a command) signs in: one of --token and --username, not both."""
    check_auth(token, username)
    if token is None and username is None:
        raise click.UsageError(f"{what} needs --token or --username")


@asynccontextmanager
async def signed_in(
    url: str, token: str | None, username: str | None, password_stdin: bool
) -> AsyncIterator[HttpApi]:
    """The server's HTTP API with the token, or signed in as ``username``."""
    async with HttpApi(url, token=token) as api:
        if username is not None:
            await api.login(username, read_password(password_stdin))
        yield api
