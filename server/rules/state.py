"""The state of one courtroom session, as derived from its log.

The state is what the rules decide on and what the welcome snapshot shows.
It is plain data: every field is an int, str, bool, None, list or dict once
serialised, so it can live in one JSON column beside the chain head and be
rebuilt from the log by folding :func:`server.rules.session.evolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class Presence(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


# Account roles of the users table (the seeds' RBAC).
SUPER_ADMIN = "SUPER_ADMIN"
ADMIN = "ADMIN"
JUDGE = "JUDGE"
FACULTY = "FACULTY"
STUDENT = "STUDENT"
ACCOUNT_ROLES: tuple[str, ...] = (SUPER_ADMIN, ADMIN, JUDGE, FACULTY, STUDENT)
# Who may run a session: the seeds name ADMIN, SUPER_ADMIN and JUDGE; the mission adds faculty.
CONTROL_ROLES: frozenset[str] = frozenset({SUPER_ADMIN, ADMIN, JUDGE, FACULTY})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends a command. ``user_id`` is None for anonymous observers and the server."""

    user_id: str | None
    account_role: str | None = None
    name: str | None = None

    @property
    def may_control(self) -> bool:
        return self.account_role in CONTROL_ROLES


SERVER = Actor(user_id=None, account_role=None, name="server")


@dataclass(slots=True)
class Participant:
    user_id: str
    role: str
    speaker: int | None
    name: str
    status: Presence
    connection_count: int
    joined_at_ms: int
    left_at_ms: int | None = None
    grace_until_ms: int | None = None  # while reconnecting: disconnected after this


@dataclass(slots=True)
class TurnState:
    turn_id: str
    order: int
    participant_id: str
    side: str
    speaker: int
    kind: str
    allowed_ms: int
    warnings_ms: list[int]
    status: str = "pending"  # pending, running, expired, submitted, auto_submitted, force_submitted
    remaining_ms: int = 0  # frozen remainder while not running
    deadline_ms: int | None = None  # set while the clock runs
    started_at_ms: int | None = None
    ended_at_ms: int | None = None
    expired_at_ms: int | None = None
    warnings_fired: list[int] = field(default_factory=list)
    late: bool = False
    word_count: int | None = None

    @property
    def ended(self) -> bool:
        return self.status in ("submitted", "auto_submitted", "force_submitted")


@dataclass(slots=True)
class RoundState:
    round_id: str
    round_index: int
    round_type: str
    format_name: str
    status: str = "PENDING"  # PENDING, ACTIVE, COMPLETED, ABORTED
    turns: list[TurnState] = field(default_factory=list)
    current_turn_id: str | None = None
    started_at_ms: int | None = None
    ended_at_ms: int | None = None

    def turn(self, turn_id: str) -> TurnState | None:
        for t in self.turns:
            if t.turn_id == turn_id:
                return t
        return None

    @property
    def current(self) -> TurnState | None:
        return None if self.current_turn_id is None else self.turn(self.current_turn_id)


@dataclass(slots=True)
class SessionState:
    session_id: str
    status: Status = Status.PENDING
    assignment_id: str | None = None
    created_by: str | None = None
    created_at_ms: int = 0
    started_at_ms: int | None = None
    ended_at_ms: int | None = None
    paused_at_ms: int | None = None
    allow_anonymous_observers: bool = True
    title: str = ""
    participants: dict[str, Participant] = field(default_factory=dict)
    expected: list[dict[str, Any]] = field(default_factory=list)
    observers_now: int = 0
    observers_total: int = 0
    rounds: dict[str, RoundState] = field(default_factory=dict)

    # --- serialisation (the JSON column and the welcome snapshot) ---

    def to_dict(self) -> dict[str, Any]:
        # By hand: ``dataclasses.asdict`` deep-copies generically and cost 40 µs
        # of every command's ~60 µs in the rules (docs/benchmarks.md).
        d = _fields(self)
        d["participants"] = {k: _fields(p) for k, p in self.participants.items()}
        d["expected"] = [dict(e) for e in self.expected]
        d["rounds"] = {k: _round_dict(r) for k, r in self.rounds.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        d = dict(data)
        d["status"] = Status(d["status"])
        d["participants"] = {
            k: Participant(**{**p, "status": Presence(p["status"])})
            for k, p in d.get("participants", {}).items()
        }
        d["rounds"] = {
            k: RoundState(**{**r, "turns": [TurnState(**t) for t in r.get("turns", [])]})
            for k, r in d.get("rounds", {}).items()
        }
        return cls(**d)

    def copy(self) -> SessionState:
        return SessionState.from_dict(self.to_dict())

    # --- queries the rules and the hub share ---

    def active_round(self) -> RoundState | None:
        for r in self.rounds.values():
            if r.status == "ACTIVE":
                return r
        return None

    def running_turn(self) -> TurnState | None:
        r = self.active_round()
        t = r.current if r is not None else None
        return t if t is not None and t.status == "running" else None

    def next_deadline_ms(self) -> int | None:
        """The one moment the server must act on its own: the running turn's deadline."""
        t = self.running_turn()
        return t.deadline_ms if t is not None else None


def _fields(obj: Any) -> dict[str, Any]:
    """A slotted dataclass's fields as a dict (the caller copies the lists in it)."""
    return {f: getattr(obj, f) for f in obj.__slots__}


def _round_dict(r: RoundState) -> dict[str, Any]:
    d = _fields(r)
    d["turns"] = turns = []
    for t in r.turns:
        td = _fields(t)
        td["warnings_ms"] = list(t.warnings_ms)
        td["warnings_fired"] = list(t.warnings_fired)
        turns.append(td)
    return d
