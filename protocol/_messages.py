"""Typed wire messages of protocol v1 (PROTOCOL.md section 2).

Client messages are frozen, slotted dataclasses with a ``TYPE`` tag; the codec
turns frames into them and refuses anything else. Server messages are built by
the small ``*_frame`` helpers in ``_codec`` because the server sends dicts it
already has (log entries) and encodes each one once for all subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

PROTOCOL_VERSION = 1

ClientAs = Literal["participant", "observer"]
ParticipantRole = Literal["petitioner", "respondent", "judge", "moderator"]
PARTICIPANT_ROLES: tuple[str, ...] = ("petitioner", "respondent", "judge", "moderator")
BENCH_ROLES: frozenset[str] = frozenset({"judge", "moderator"})


@dataclass(frozen=True, slots=True)
class Hello:
    TYPE: ClassVar[str] = "hello"
    v: int
    token: str | None
    as_: ClientAs
    role: ParticipantRole | None = None
    speaker: int | None = None
    resume_from: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[str] = "ping"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    TYPE: ClassVar[str] = "leave"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionStart:
    TYPE: ClassVar[str] = "session.start"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionPause:
    TYPE: ClassVar[str] = "session.pause"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionResume:
    TYPE: ClassVar[str] = "session.resume"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionComplete:
    TYPE: ClassVar[str] = "session.complete"
    id: int | None = None


@dataclass(frozen=True, slots=True)
class LogEvent:
    TYPE: ClassVar[str] = "log"
    event_type: str
    details: dict[str, Any]
    id: int | None = None


@dataclass(frozen=True, slots=True)
class RoundStart:
    TYPE: ClassVar[str] = "round.start"
    round_id: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class RoundAbort:
    TYPE: ClassVar[str] = "round.abort"
    round_id: str
    reason: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnStart:
    TYPE: ClassVar[str] = "turn.start"
    turn_id: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnSubmit:
    TYPE: ClassVar[str] = "turn.submit"
    turn_id: str
    transcript: str
    word_count: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnForceSubmit:
    TYPE: ClassVar[str] = "turn.force_submit"
    turn_id: str
    transcript: str
    reason: str
    word_count: int | None = None
    id: int | None = None


Command = (
    SessionStart
    | SessionPause
    | SessionResume
    | SessionComplete
    | LogEvent
    | RoundStart
    | RoundAbort
    | TurnStart
    | TurnSubmit
    | TurnForceSubmit
)
ClientMessage = Hello | Ping | Leave | Command
