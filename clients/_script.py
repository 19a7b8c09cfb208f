"""Judge scripts: a tiny line language of commands, parsed before anything is sent.

One step a line::

    # a comment; blank lines are skipped
    session.start
    wait 2.5
    log NOTE {"text": "counsel may proceed"}
    round.start 3f2b...            # the id field of round.* / turn.* commands
    round.abort 3f2b... {"reason": "fire drill"}
    -session.pause                 # a leading "-" means: a refusal does not stop the script
    ping
    leave

A line is ``[-]TYPE [ID] [JSON object]``: ``TYPE`` is a client message type
of the protocol, ``ID`` fills the command's id field (``round_id`` or
``turn_id``; for ``log`` it is the ``event_type``), and the JSON object adds
the remaining fields (for ``log``: the details). The whole script is checked
first, so a typo on line 9 fails before line 1 changes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from protocol import CLIENT_TYPES

__all__ = ["ScriptError", "Send", "Step", "Wait", "parse_script"]

# The positional argument of each command that takes one.
_ID_FIELD = {
    "round.start": "round_id",
    "round.abort": "round_id",
    "turn.start": "turn_id",
    "turn.submit": "turn_id",
    "turn.force_submit": "turn_id",
    "log": "event_type",
}
_SENDABLE = CLIENT_TYPES - {"hello"}


class ScriptError(ValueError):
    """A line of a script is not a step; ``line`` is its 1-based number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float
    line: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    """Send message ``type`` with ``fields``; ``may_fail`` keeps going on a refusal."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict, hash=False)
    may_fail: bool = False
    line: int = 0
    text: str = field(default="", compare=False)  # the source line, for echoing


Step = Wait | Send


def parse_script(text: str) -> list[Step]:
    """Parse a whole script.

    Raises:
        ScriptError: naming the first line that is not a step.
    """
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        steps.append(_parse_line(line, number))
    return steps


def _parse_line(line: str, number: int) -> Step:
    may_fail = line.startswith("-")
    if may_fail:
        line = line[1:].lstrip()
    head, _, rest = line.partition(" ")
    rest = rest.strip()
    if head == "wait":
        if may_fail:
            raise ScriptError(number, "'-' applies to commands, not to wait")
        try:
            seconds = float(rest)
        except ValueError:
            raise ScriptError(number, f"wait needs a number of seconds, not {rest!r}") from None
        if not 0 <= seconds <= 24 * 3600:
            raise ScriptError(number, "wait between 0 and 86400 seconds")
        return Wait(seconds, number)
    if head not in _SENDABLE:
        known = ", ".join(sorted(_SENDABLE | {"wait"}))
        raise ScriptError(number, f"unknown command {head!r} (known: {known})")
    fields: dict[str, Any] = {}
    id_field = _ID_FIELD.get(head)
    if id_field is not None and rest and not rest.startswith("{"):
        value, _, rest = rest.partition(" ")
        fields[id_field] = value
        rest = rest.strip()
    if rest:
        try:
            obj = json.loads(rest)
        except json.JSONDecodeError as exc:
            raise ScriptError(number, f"expected a JSON object: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ScriptError(number, "expected a JSON object")
        if head == "log":
            fields["details"] = obj
        else:
            fields.update(obj)
    if head == "log":
        if "event_type" not in fields:
            raise ScriptError(number, "log needs an event type: log EVENT_TYPE {details}")
        fields.setdefault("details", {})
    return Send(head, fields, may_fail, number, line)
