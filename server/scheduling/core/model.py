"""Scheduling domain model: immutable snapshots of one tournament's schedule version.

Shaped after tab software: a `Court` is Tabbycat's venue / Tabroom's room (its `number` is the
allocation preference, like Tabbycat's venue priority); a `Slot` is one court open for one time
window (Tabroom's timeslot x room); a `Stage` is a round or break round, ordered within its
`Event`. A `ScheduleVersion` owns one `Assignment` per match; versions are cloned, never edited
once finalized. All ids are positive ints issued by the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

AssignedBy = Literal["AUTO", "MANUAL"]


class VersionStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    FINALIZED = "FINALIZED"


def provisional_assignment_id(match_id: int) -> int:
    """Id for an assignment row that does not exist yet (negative, so it never collides).

    The persistence layer inserts such rows as new and lets the database issue the real id.
    """
    return -match_id


@dataclass(frozen=True, slots=True)
class Tournament:
    id: int
    name: str
    public_schedule: bool = False
    min_rest_minutes: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Stage:
    """A round of an event; a higher `order` runs after every lower one (equal = concurrent)."""

    id: int
    event_id: int
    name: str
    order: int


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str
    institution: str | None = None


@dataclass(frozen=True, slots=True)
class Judge:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Court:
    """A room. `capacity` (seats) is informational; the solver prefers lower `number`s."""

    id: int
    label: str
    number: int
    capacity: int | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """A court available from `start` (aware UTC) for `duration_minutes`; `day_date` is the
    tournament-local day it is listed under."""

    id: int
    court_id: int
    day_date: date
    start: datetime
    duration_minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True, slots=True)
class Match:
    id: int
    event_id: int
    stage_id: int
    petitioner_team_id: int
    respondent_team_id: int
    judge_ids: tuple[int, ...] = ()
    duration_minutes: int = 60

    @property
    def team_ids(self) -> tuple[int, int]:
        return (self.petitioner_team_id, self.respondent_team_id)


@dataclass(frozen=True, slots=True)
class ScheduleVersion:
    id: int
    tournament_id: int
    number: int
    status: VersionStatus = VersionStatus.DRAFT
    parent_version_id: int | None = None

    @property
    def is_finalized(self) -> bool:
        return self.status is VersionStatus.FINALIZED


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a match sits in a version. `locked` = admin decision, auto-assign never touches it
    (a locked assignment without a slot stays unassigned). `reason`/`reason_code` explain why an
    unassigned match could not be placed."""

    id: int
    version_id: int
    match_id: int
    slot_id: int | None = None
    locked: bool = False
    assigned_by: AssignedBy | None = None
    reason: str | None = None
    reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    """Everything needed to schedule or check one version. Slots are tournament-wide (shared
    by all events); `assignments` holds at most one row per match, matches without a row are
    unassigned."""

    tournament: Tournament
    version: ScheduleVersion
    events: tuple[Event, ...] = ()
    stages: tuple[Stage, ...] = ()
    teams: tuple[Team, ...] = ()
    judges: tuple[Judge, ...] = ()
    courts: tuple[Court, ...] = ()
    slots: tuple[Slot, ...] = ()
    matches: tuple[Match, ...] = ()
    assignments: tuple[Assignment, ...] = ()

    def with_assignments(self, assignments: tuple[Assignment, ...]) -> ScheduleInput:
        return replace(self, assignments=tuple(sorted(assignments, key=lambda a: a.match_id)))

    def with_assignment(self, assignment: Assignment) -> ScheduleInput:
        """Replace the row for `assignment.match_id` (or add it)."""
        rest = tuple(a for a in self.assignments if a.match_id != assignment.match_id)
        return self.with_assignments((*rest, assignment))

    def with_version(self, version: ScheduleVersion) -> ScheduleInput:
        return replace(self, version=version)
