"""Manual moves: an admin drags one match to a slot; the result is locked.

Checks run against the version with the moved match taken out, using the same rules as the
solver (`constraints.evaluate`), so a move is accepted exactly when auto-assign could have made
it. Error precedence: unknown assignment or slot (404), finalized version (422), rule
violations (422 with the list).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from server.scheduling.core.conflicts import ConflictReportBuilder
from server.scheduling.core.constraints import Occupancy, evaluate, stage_window
from server.scheduling.core.errors import (
    ManualAssignmentValidationError,
    NotFound,
    VersionFinalized,
)
from server.scheduling.core.index import ScheduleIndex, build_index
from server.scheduling.core.model import AssignedBy, Assignment, ScheduleInput
from server.scheduling.core.report import ConflictReportV1, SummaryV1, UnassignedMatchV1
from server.scheduling.core.violations import Violation, sort_violations


def _lookup(
    inp: ScheduleInput, assignment_id: int, new_slot_id: int
) -> tuple[ScheduleIndex, Assignment]:
    idx = build_index(inp)
    assignment = idx.assignment_by_id.get(assignment_id)
    if assignment is None:
        raise NotFound("assignment", assignment_id)
    if new_slot_id not in idx.slots:
        raise NotFound("slot", new_slot_id)
    if inp.version.is_finalized:
        raise VersionFinalized(inp.version.id)
    return idx, assignment


def _violations(idx: ScheduleIndex, assignment: Assignment, new_slot_id: int) -> list[Violation]:
    match = idx.matches[assignment.match_id]
    occ = Occupancy.from_assignments(idx, exclude_match_id=match.id)
    window = stage_window(occ, match.stage_id)
    found = evaluate(occ, match, new_slot_id, window, collect=True)
    return sort_violations([replace(v, assignment_id=assignment.id) for v in found])


def validate_manual_move(
    inp: ScheduleInput, assignment_id: int, new_slot_id: int
) -> list[Violation]:
    """Every rule the move would break (empty = allowed). Raises `NotFound`, `VersionFinalized`."""
    idx, assignment = _lookup(inp, assignment_id, new_slot_id)
    return _violations(idx, assignment, new_slot_id)


def apply_manual_move(
    inp: ScheduleInput,
    assignment_id: int,
    new_slot_id: int,
    *,
    assigned_by: AssignedBy = "MANUAL",
) -> Assignment:
    """The moved assignment, locked. Raises `NotFound`, `VersionFinalized` or
    `ManualAssignmentValidationError` (carrying the violations); never a partial result."""
    idx, assignment = _lookup(inp, assignment_id, new_slot_id)
    violations = _violations(idx, assignment, new_slot_id)
    if violations:
        raise ManualAssignmentValidationError(
            f"moving assignment {assignment_id} to slot {new_slot_id} breaks "
            f"{len(violations)} constraint(s)",
            violations,
        )
    return replace(
        assignment,
        slot_id=new_slot_id,
        locked=True,
        assigned_by=assigned_by,
        reason=None,
        reason_code=None,
    )


class SlotKeyV1(BaseModel):
    model_config = ConfigDict(frozen=True)

    day_date: date
    start_time: datetime
    court_number: int
    court_label: str


class ManualAssignmentResponse(BaseModel):
    """The seed's PATCH response; `conflict_report` is the full report, as GET returns it."""

    model_config = ConfigDict(frozen=True)

    assignment_id: int
    match_id: int
    slot_id: int | None
    locked: bool
    assigned_by: str | None
    assigned_at: datetime
    validation_passed: bool
    slot_key: SlotKeyV1 | None
    conflicts_summary: SummaryV1
    unassigned_matches: list[UnassignedMatchV1]
    conflict_report: ConflictReportV1


def build_manual_response(
    inp_after: ScheduleInput, assignment: Assignment, *, assigned_at: datetime
) -> ManualAssignmentResponse:
    """`inp_after` already contains `assignment`; `assigned_at` comes from the caller (the
    core never reads the clock)."""
    report = ConflictReportBuilder.compute(inp_after)
    slot_key = None
    if assignment.slot_id is not None:
        slot = next(s for s in inp_after.slots if s.id == assignment.slot_id)
        court = next(c for c in inp_after.courts if c.id == slot.court_id)
        slot_key = SlotKeyV1(
            day_date=slot.day_date,
            start_time=slot.start,
            court_number=court.number,
            court_label=court.label,
        )
    return ManualAssignmentResponse(
        assignment_id=assignment.id,
        match_id=assignment.match_id,
        slot_id=assignment.slot_id,
        locked=assignment.locked,
        assigned_by=assignment.assigned_by,
        assigned_at=assigned_at,
        validation_passed=True,
        slot_key=slot_key,
        conflicts_summary=report.summary,
        unassigned_matches=report.unassigned,
        conflict_report=report,
    )
