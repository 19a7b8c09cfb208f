"""Commands the rules accept. Wire messages and HTTP requests are translated into these.

Identifiers that must be fresh (a new round's id) are chosen at the edge and
carried in the command, so the rules stay deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CreateSession:
    session_id: str
    assignment_id: str | None = None
    title: str = ""
    allow_anonymous_observers: bool = True
    expected: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Complete:
    pass


@dataclass(frozen=True, slots=True)
class Join:
    """A signed-in user takes a place in the session (HTTP join or a participant hello)."""

    role: str
    speaker: int | None = None
    client_info: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A participant's connection dropped without ``leave``.

    ``still_connected`` is how many of the user's connections remain on any
    node (counted inside the transaction); ``grace_ms`` is how long the user
    stays "reconnecting" before being marked disconnected (0: at once).
    """

    user_id: str
    still_connected: int = 0
    grace_ms: int = 0


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class Observation:
    observation_id: str
    user_id: str | None  # None: anonymous


@dataclass(frozen=True, slots=True)
class Observe:
    """Observers arrive. Arrivals that meet while a commit is in flight are batched
    into one command (``server/live/observers.py``), so a thousand observers joining
    at once are a few log entries, not a thousand fanned out to a thousand."""

    observations: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class Unobserve:
    observation_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogCustom:
    event_type: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnPlan:
    participant_id: str
    allowed_seconds: int


@dataclass(frozen=True, slots=True)
class CreateRound:
    round_id: str
    round_index: int | None = None
    round_type: str = "PETITIONER_MAIN"
    format_name: str | None = None
    format_spec: dict[str, Any] | None = None
    default_turn_seconds: int | None = None
    turns: tuple[TurnPlan, ...] | None = None


@dataclass(frozen=True, slots=True)
class StartRound:
    round_id: str


@dataclass(frozen=True, slots=True)
class AbortRound:
    round_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StartTurn:
    turn_id: str


@dataclass(frozen=True, slots=True)
class SubmitTurn:
    turn_id: str
    transcript: str
    word_count: int | None = None


@dataclass(frozen=True, slots=True)
class ForceSubmit:
    turn_id: str
    transcript: str
    reason: str
    word_count: int | None = None


@dataclass(frozen=True, slots=True)
class TimerDue:
    """The server's clock reached the session's next deadline (warning or expiry)."""


SessionCommand = (
    Start
    | Pause
    | Resume
    | Complete
    | Join
    | Disconnect
    | Leave
    | Observe
    | Unobserve
    | LogCustom
    | CreateRound
    | StartRound
    | AbortRound
    | StartTurn
    | SubmitTurn
    | ForceSubmit
    | TimerDue
)
