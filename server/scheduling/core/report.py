"""ConflictReportV1: the wire shape of the conflict report (pydantic v2, frozen).

Field order is declaration order and every list is built pre-sorted, so `model_dump_json()` is
byte-identical for identical inputs. Times are UTC (`...Z`); nothing here reads the clock.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ViolationV1(_Frozen):
    """One unmet constraint: which rule (`code`), which match(es), team, judge, slot, court."""

    code: str
    message: str
    match_id: int | None = None
    related_match_id: int | None = None
    assignment_id: int | None = None
    slot_id: int | None = None
    related_slot_id: int | None = None
    court_id: int | None = None
    team_id: int | None = None
    judge_id: int | None = None
    stage_id: int | None = None
    related_stage_id: int | None = None


class SummaryV1(_Frozen):
    tournament_id: int
    schedule_version_id: int
    version_number: int
    version_status: str
    event_id: int | None
    total_matches: int
    assigned_count: int
    unassigned_count: int
    locked_count: int
    manual_count: int
    total_slots: int
    used_slots_count: int
    violation_count: int
    conflict_free: bool  # no violations and nothing unassigned


class SlotFailureV1(_Frozen):
    reason_code: str
    slot_count: int


class UnassignedMatchV1(_Frozen):
    match_id: int
    assignment_id: int | None
    event_id: int
    stage_id: int
    stage: str
    stage_order: int
    petitioner_team_id: int
    respondent_team_id: int
    judge_ids: list[int]
    duration_minutes: int
    locked: bool
    reason_code: str
    reason: str
    # How many slots failed first at each rule, in rule order (see constraints.py).
    slot_failures: list[SlotFailureV1]
    blocking_match_ids: list[int]
    blocking_team_ids: list[int]
    blocking_judge_ids: list[int]
    blocking_stage_ids: list[int]


class DayPressureV1(_Frozen):
    day_date: date
    total_slots: int
    used_slots: int
    unused_slots: int


class CourtPressureV1(_Frozen):
    court_id: int
    court_number: int
    court_label: str
    total_slots: int
    used_slots: int
    unused_slots: int


class SlotPressureV1(_Frozen):
    """Slots are shared by all events, so pressure is tournament-wide even when filtered."""

    total_slots: int
    used_slots_count: int
    unused_slots_count: int
    unused_minutes: int
    utilization_pct: float
    # Unused slots long enough for at least one unassigned match in scope.
    unused_slots_fitting_unassigned: int
    by_day: list[DayPressureV1]
    by_court: list[CourtPressureV1]


class StageTimelineV1(_Frozen):
    event_id: int
    event: str
    stage_id: int
    stage: str
    order: int
    total_matches: int
    assigned_count: int
    unassigned_count: int
    first_assigned_start_time: datetime | None
    last_assigned_end_time: datetime | None
    stage_order_violation_count: int


class OrderingIntegrityV1(_Frozen):
    """`deterministic_order_ok`: running the assigned matches in time order respects the
    declared stage order of every event (no STAGE_ORDER violation); `violations` lists those
    that do not."""

    deterministic_order_ok: bool
    violations: list[ViolationV1]


class ConflictReportV1(_Frozen):
    summary: SummaryV1
    unassigned: list[UnassignedMatchV1]
    slot_pressure: SlotPressureV1
    stage_timeline: list[StageTimelineV1]
    ordering_integrity: OrderingIntegrityV1
    violations: list[ViolationV1]
