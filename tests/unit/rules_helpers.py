"""Domain helpers for the pure rule tests: a session under test and its log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.rules import commands as c
from server.rules.events import NewEvent
from server.rules.session import RulesConfig, create, evolve, handle, initial_state
from server.rules.state import Actor, SessionState

JUDGE = Actor("1", "JUDGE", "Judge")
FACULTY = Actor("2", "FACULTY", "Prof")
ADMIN = Actor("3", "ADMIN", "Admin")
P1 = Actor("11", "STUDENT", "P1")
P2 = Actor("12", "STUDENT", "P2")
R1 = Actor("21", "STUDENT", "R1")
R2 = Actor("22", "STUDENT", "R2")
STRANGER = Actor("99", "STUDENT", "Nobody")
ANON = Actor(None)
SID = "00000000-0000-4000-8000-000000000001"
RID = "00000000-0000-4000-8000-0000000000aa"


@dataclass
class Court:
    """A session driven purely: commands in, events out, a log kept for replay checks."""

    now: int = 1_000_000
    config: RulesConfig = field(default_factory=RulesConfig)
    state: SessionState = field(init=False)
    log: list[tuple[NewEvent, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        first = create(c.CreateSession(session_id=SID, title="t"), JUDGE, self.now)
        self.state = initial_state(SID, first.details, self.now)
        evolve(self.state, first.event_type, first.details, first.actor_id, self.now)
        self.log.append((first, self.now))

    def do(self, cmd: Any, actor: Actor = JUDGE) -> list[str]:
        """Run a command; on refusal the state must be unchanged (Rule 1)."""
        before = self.state.to_dict()
        trial = self.state.copy()
        try:
            events = handle(trial, cmd, actor, self.now, self.config)
        except Exception:
            assert self.state.to_dict() == before
            raise
        self.state = trial
        self.log.extend((e, self.now) for e in events)
        return [e.event_type for e in events]

    def advance(self, ms: int) -> None:
        self.now += ms

    def replayed(self) -> SessionState:
        """Fold the whole log from scratch: must equal the live state."""
        state = SessionState(session_id=SID)
        for e, at in self.log:
            evolve(state, e.event_type, e.details, e.actor_id, at)
        return state

    def seat_speakers(self) -> None:
        self.do(c.Join("petitioner", 1), P1)
        self.do(c.Join("petitioner", 2), P2)
        self.do(c.Join("respondent", 1), R1)
        self.do(c.Join("respondent", 2), R2)

    def details(self, event_type: str) -> list[dict[str, Any]]:
        return [e.details for e, _ in self.log if e.event_type == event_type]
