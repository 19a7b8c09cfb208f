"""The typed shapes of the scheduling API's responses (``server/http/routes/schedule.py``).

Beside ``models.py`` (the live sessions' shapes and the errors), whose
conventions they follow: scheduling ids are positive integers, times the
store's ISO-8601 UTC strings.
"""

from __future__ import annotations

from pydantic import BaseModel

from server.http.routes.models import SessionStatus
from server.scheduling.core.report import ConflictReportV1


class Tournament(BaseModel):
    id: int
    name: str
    public_schedule: bool
    min_rest_minutes: int
    created_at: str


class TournamentList(BaseModel):
    tournaments: list[Tournament]
    count: int


class EventOut(BaseModel):
    id: int
    tournament_id: int
    name: str


class EventList(BaseModel):
    events: list[EventOut]
    count: int


class StageOut(BaseModel):
    id: int
    event_id: int
    name: str
    order: int


class StageList(BaseModel):
    stages: list[StageOut]
    count: int


class TeamOut(BaseModel):
    id: int
    tournament_id: int
    name: str
    institution: str | None
    member_user_ids: list[int]


class TeamList(BaseModel):
    teams: list[TeamOut]
    count: int


class JudgeOut(BaseModel):
    id: int
    tournament_id: int
    name: str
    user_id: int | None


class JudgeList(BaseModel):
    judges: list[JudgeOut]
    count: int


class CourtOut(BaseModel):
    id: int
    tournament_id: int
    label: str
    number: int
    capacity: int | None


class CourtList(BaseModel):
    courts: list[CourtOut]
    count: int


class SlotOut(BaseModel):
    id: int
    court_id: int
    day_date: str
    start: str
    end: str
    duration_minutes: int


class SlotList(BaseModel):
    slots: list[SlotOut]
    count: int


class MatchOut(BaseModel):
    id: int
    tournament_id: int
    event_id: int
    stage_id: int
    petitioner_team_id: int
    respondent_team_id: int
    judge_ids: list[int]
    duration_minutes: int


class MatchList(BaseModel):
    matches: list[MatchOut]
    count: int


class VersionOut(BaseModel):
    id: int
    tournament_id: int
    number: int
    status: str
    parent_version_id: int | None
    created_at: str
    created_by: str | None
    finalized_at: str | None


class VersionList(BaseModel):
    versions: list[VersionOut]
    count: int


class AssignmentOut(BaseModel):
    id: int
    schedule_version_id: int
    match_id: int
    slot_id: int | None
    locked: bool
    assigned_by: str | None
    reason_code: str | None
    reason: str | None
    assigned_at: str | None


class AssignmentWithSlot(AssignmentOut):
    slot: SlotOut | None


class VersionDetail(VersionOut):
    assignments: list[AssignmentWithSlot]


class AutoAssignResult(BaseModel):
    schedule_version_id: int
    placed_count: int
    locked_count: int
    unassigned_count: int
    changed_count: int
    assignments: list[AssignmentOut]
    conflict_report: ConflictReportV1


class Named(BaseModel):
    id: int
    name: str


class TeamBrief(Named):
    institution: str | None


class CourtBrief(BaseModel):
    id: int
    label: str
    number: int


class DayItem(BaseModel):
    assignment_id: int
    match_id: int
    event: Named
    stage: StageOut
    slot: SlotOut
    court: CourtBrief
    petitioner: TeamBrief
    respondent: TeamBrief
    judges: list[Named]
    locked: bool
    assigned_by: str | None
    session_id: str | None
    session_status: SessionStatus | None


class DaySchedule(BaseModel):
    tournament_id: int
    schedule_version_id: int
    version_number: int
    version_status: str
    date: str
    items: list[DayItem]
