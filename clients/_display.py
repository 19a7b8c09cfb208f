"""How ``courtroom-client`` prints what it receives: events, clock lines, connection status."""

from __future__ import annotations

import click
import orjson

from clients._messages import Event, Tick, Welcome
from clients._status import ConnectionStatus


def status_line(status: ConnectionStatus) -> None:
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
