"""The one conflict implementation: `ConflictReportBuilder.compute` (pure, deterministic).

Every route (GET conflicts, PATCH manual move, finalize) goes through `analyse_schedule`, so
they cannot drift apart. With `event_id`, matches, unassigned entries, stage timeline and
violations are limited to that event (a violation is kept if either match involved belongs to
it); slots are shared by all events, so slot pressure and slot-overlap violations stay
tournament-wide, and clashes with other events' matches are still detected.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from server.scheduling.core.constraints import Occupancy, StageWindow, stage_window
from server.scheduling.core.diagnose import Diagnosis, diagnose
from server.scheduling.core.errors import NotFound
from server.scheduling.core.index import ScheduleIndex, build_index, from_seconds
from server.scheduling.core.model import ScheduleInput
from server.scheduling.core.report import (
    ConflictReportV1,
    CourtPressureV1,
    DayPressureV1,
    OrderingIntegrityV1,
    SlotFailureV1,
    SlotPressureV1,
    StageTimelineV1,
    SummaryV1,
    UnassignedMatchV1,
    ViolationV1,
)
from server.scheduling.core.sweep import placement_violations
from server.scheduling.core.validation import validate_slots
from server.scheduling.core.violations import ReasonCode, Violation, sort_violations


@dataclass(frozen=True, slots=True)
class ScheduleAnalysis:
    idx: ScheduleIndex
    occ: Occupancy
    event_id: int | None  # the filter, if any
    match_ids: tuple[int, ...]  # in scope, sorted
    unassigned: tuple[Diagnosis, ...]  # sorted by match id
    violations: tuple[Violation, ...]  # sorted


def analyse_schedule(inp: ScheduleInput, *, event_id: int | None = None) -> ScheduleAnalysis:
    idx = build_index(inp)
    if event_id is not None and event_id not in idx.events:
        raise NotFound("event", event_id)
    occ = Occupancy.from_assignments(idx)
    match_ids = tuple(
        sorted(m.id for m in inp.matches if event_id is None or m.event_id == event_id)
    )
    windows: dict[int, StageWindow] = {}
    diagnoses = []
    for match_id in match_ids:
        if match_id in occ.placed:
            continue
        match = idx.matches[match_id]
        if match.stage_id not in windows:
            windows[match.stage_id] = stage_window(occ, match.stage_id)
        row = idx.assignment_by_match.get(match_id)
        locked = row is not None and row.locked
        diagnoses.append(diagnose(occ, match, windows[match.stage_id], locked=locked))
    scope = frozenset(match_ids)
    found = [v for v in placement_violations(occ) if v.involves_match(scope)]
    found.extend(
        v for v in validate_slots(inp.slots, inp.courts) if v.code is ReasonCode.SLOT_OVERLAP
    )
    return ScheduleAnalysis(
        idx, occ, event_id, match_ids, tuple(diagnoses), tuple(sort_violations(found))
    )


def _violation_v1(v: Violation) -> ViolationV1:
    return ViolationV1(
        code=v.code.value,
        message=v.message,
        match_id=v.match_id,
        related_match_id=v.related_match_id,
        assignment_id=v.assignment_id,
        slot_id=v.slot_id,
        related_slot_id=v.related_slot_id,
        court_id=v.court_id,
        team_id=v.team_id,
        judge_id=v.judge_id,
        stage_id=v.stage_id,
        related_stage_id=v.related_stage_id,
    )


class ConflictReportBuilder:
    """Stateless; `compute` works on the class or on an instance."""

    @staticmethod
    def compute(inp: ScheduleInput, *, event_id: int | None = None) -> ConflictReportV1:
        """Raises `NotFound` (404) for an unknown `event_id`, `InvalidScheduleInput` (422)."""
        a = analyse_schedule(inp, event_id=event_id)
        idx, occ = a.idx, a.occ
        violations = [_violation_v1(v) for v in a.violations]
        stage_violations = [v for v in violations if v.code == ReasonCode.STAGE_ORDER.value]
        rows = [idx.assignment_by_match.get(m) for m in a.match_ids]
        summary = SummaryV1(
            tournament_id=inp.tournament.id,
            schedule_version_id=inp.version.id,
            version_number=inp.version.number,
            version_status=inp.version.status.value,
            event_id=event_id,
            total_matches=len(a.match_ids),
            assigned_count=len(a.match_ids) - len(a.unassigned),
            unassigned_count=len(a.unassigned),
            locked_count=sum(1 for r in rows if r is not None and r.locked),
            manual_count=sum(1 for r in rows if r is not None and r.assigned_by == "MANUAL"),
            total_slots=len(idx.slots),
            used_slots_count=len(set(occ.placed.values())),
            violation_count=len(violations),
            conflict_free=not violations and not a.unassigned,
        )
        return ConflictReportV1(
            summary=summary,
            unassigned=[_unassigned_v1(idx, d) for d in a.unassigned],
            slot_pressure=_slot_pressure(a),
            stage_timeline=_timeline(a),
            ordering_integrity=OrderingIntegrityV1(
                deterministic_order_ok=not stage_violations, violations=stage_violations
            ),
            violations=violations,
        )


def _unassigned_v1(idx: ScheduleIndex, d: Diagnosis) -> UnassignedMatchV1:
    match = idx.matches[d.match_id]
    stage = idx.stages[match.stage_id]
    row = idx.assignment_by_match.get(match.id)
    return UnassignedMatchV1(
        match_id=match.id,
        assignment_id=None if row is None else row.id,
        event_id=match.event_id,
        stage_id=stage.id,
        stage=stage.name,
        stage_order=stage.order,
        petitioner_team_id=match.petitioner_team_id,
        respondent_team_id=match.respondent_team_id,
        judge_ids=sorted(match.judge_ids),
        duration_minutes=match.duration_minutes,
        locked=row is not None and row.locked,
        reason_code=d.reason_code.value,
        reason=d.reason,
        slot_failures=[
            SlotFailureV1(reason_code=c.value, slot_count=n) for c, n in d.slot_failures
        ],
        blocking_match_ids=list(d.blocking_match_ids),
        blocking_team_ids=list(d.blocking_team_ids),
        blocking_judge_ids=list(d.blocking_judge_ids),
        blocking_stage_ids=list(d.blocking_stage_ids),
    )


def _slot_pressure(a: ScheduleAnalysis) -> SlotPressureV1:
    idx, occ = a.idx, a.occ
    used = set(occ.placed.values())
    unassigned_minutes = [idx.matches[d.match_id].duration_minutes for d in a.unassigned]
    shortest_need = min(unassigned_minutes, default=None)
    day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    court: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    unused_minutes = fitting = 0
    for slot in idx.slots_sorted:
        is_used = slot.id in used
        for bucket in (day[slot.day_date], court[slot.court_id]):
            bucket[0] += 1
            bucket[1] += is_used
        if not is_used:
            unused_minutes += max(slot.duration_minutes, 0)
            if shortest_need is not None and slot.duration_minutes >= shortest_need:
                fitting += 1
    total = len(idx.slots)
    return SlotPressureV1(
        total_slots=total,
        used_slots_count=len(used),
        unused_slots_count=total - len(used),
        unused_minutes=unused_minutes,
        utilization_pct=round(100 * len(used) / total, 2) if total else 0.0,
        unused_slots_fitting_unassigned=fitting,
        by_day=[
            DayPressureV1(day_date=d, total_slots=t, used_slots=u, unused_slots=t - u)
            for d, (t, u) in sorted(day.items())
        ],
        by_court=[
            CourtPressureV1(
                court_id=c.id,
                court_number=c.number,
                court_label=c.label,
                total_slots=court[c.id][0],
                used_slots=court[c.id][1],
                unused_slots=court[c.id][0] - court[c.id][1],
            )
            for c in sorted(idx.courts.values(), key=lambda c: (c.number, c.id))
        ],
    )


def _timeline(a: ScheduleAnalysis) -> list[StageTimelineV1]:
    idx, occ = a.idx, a.occ
    scope = frozenset(a.match_ids)  # only narrows anything when filtering by event
    stage_errors: dict[int, int] = defaultdict(int)
    for v in a.violations:
        if v.code is ReasonCode.STAGE_ORDER and v.stage_id is not None:
            stage_errors[v.stage_id] += 1
    out = []
    events = sorted(idx.event_stages) if a.event_id is None else [a.event_id]
    for event_id in events:
        for stage in idx.event_stages[event_id]:
            ids = [m for m in idx.stage_matches[stage.id] if m in scope]
            times = [occ.times[m] for m in ids if m in occ.times]
            out.append(
                StageTimelineV1(
                    event_id=event_id,
                    event=idx.events[event_id].name,
                    stage_id=stage.id,
                    stage=stage.name,
                    order=stage.order,
                    total_matches=len(ids),
                    assigned_count=len(times),
                    unassigned_count=len(ids) - len(times),
                    first_assigned_start_time=(
                        from_seconds(min(t[0] for t in times)) if times else None
                    ),
                    last_assigned_end_time=from_seconds(max(t[1] for t in times))
                    if times
                    else None,
                    stage_order_violation_count=stage_errors[stage.id],
                )
            )
    return out
