"""``courtroom-client judge``: run a parsed script of commands on a connected client."""

from __future__ import annotations

import asyncio

import click
import orjson

from clients._cli_support import EXIT_FAILED
from clients._connection import CourtroomClient
from clients._display import Names, format_event
from clients._errors import CommandError
from clients._messages import Event
from clients._script import Send, Step, Wait


async def print_events(client: CourtroomClient) -> None:
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
