"""Conflict report (shape, determinism, explanations, event filter), versions, slot checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from server.scheduling.core import (
    Assignment,
    ConflictReportBuilder,
    Court,
    Event,
    FinalizeBlocked,
    Judge,
    Match,
    NotFound,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    VersionFinalized,
    VersionStatus,
    auto_assign,
    clone_version,
    finalize,
    finalize_check,
    publicly_visible,
    validate_slots,
)
from server.scheduling.core.synthetic import synthetic_tournament

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def slot(sid: int, court: int, at: int, minutes: int = 60) -> Slot:
    start = T0 + timedelta(minutes=at)
    return Slot(sid, court, start.date(), start, minutes)


def broken() -> ScheduleInput:
    """A hand-made schedule breaking every rule once (rest 30 min, stage 2 after stage 1)."""
    return ScheduleInput(
        tournament=Tournament(1, "Cup", False, 30),
        version=ScheduleVersion(10, 1, 3),
        events=(Event(1, "Moot"), Event(2, "Junior")),
        stages=(Stage(1, 1, "Round 1", 1), Stage(2, 1, "Final", 2), Stage(3, 2, "Junior R1", 1)),
        teams=tuple(Team(i, f"T{i}") for i in range(1, 10)),
        judges=(Judge(1, "J1"), Judge(2, "J2")),
        courts=(Court(1, "A", 1), Court(2, "B", 2)),
        slots=(slot(1, 1, 0), slot(2, 2, 0), slot(3, 1, 75, 45), slot(4, 2, 200)),
        matches=(
            Match(1, 1, 1, 1, 2, (1,), 60),
            Match(2, 1, 1, 3, 4, (1,), 60),  # same judge as match 1, same time
            Match(3, 1, 1, 1, 5, (), 60),  # slot 3 too short; team 1 rests 15 min
            Match(4, 2, 3, 6, 7, (), 60),  # same slot as match 2 (other event)
            Match(5, 1, 2, 8, 9, (2,), 60),  # final before round 1 is over
            Match(6, 1, 1, 8, 9, (), 60),  # never assigned
        ),
        assignments=(
            Assignment(1, 10, 1, 1, True, "MANUAL"),
            Assignment(2, 10, 2, 2, False, "AUTO"),
            Assignment(3, 10, 3, 3, False, "AUTO"),
            Assignment(4, 10, 4, 2, False, "AUTO"),
            Assignment(5, 10, 5, 4, False, "AUTO"),
        ),
    )


def test_conflicts_endpoint_is_deterministic() -> None:
    inp = broken()
    bodies = [ConflictReportBuilder.compute(inp).model_dump_json() for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]
    # Row order as loaded from a database must not matter either.
    permuted = replace(
        inp,
        matches=inp.matches[::-1],
        slots=inp.slots[::-1],
        assignments=inp.assignments[::-1],
        stages=inp.stages[::-1],
    )
    assert ConflictReportBuilder().compute(permuted).model_dump_json() == bodies[0]


def test_report_has_the_seed_shape() -> None:
    body = json.loads(ConflictReportBuilder.compute(broken()).model_dump_json())
    assert list(body) == [
        "summary",
        "unassigned",
        "slot_pressure",
        "stage_timeline",
        "ordering_integrity",
        "violations",
    ]
    assert {"tournament_id", "schedule_version_id", "total_slots"} <= set(body["summary"])
    assert {"match_id", "stage", "reason", "reason_code"} <= set(body["unassigned"][0])
    assert "unused_slots_count" in body["slot_pressure"]
    assert {"stage", "first_assigned_start_time"} <= set(body["stage_timeline"][0])
    assert {"deterministic_order_ok", "violations"} <= set(body["ordering_integrity"])
    assert "generated_at" not in json.dumps(body)


def test_report_explains_every_unmet_constraint() -> None:
    report = ConflictReportBuilder.compute(broken())
    found = {
        (v.code, v.match_id, v.related_match_id, v.team_id, v.judge_id, v.related_stage_id)
        for v in report.violations
    }
    assert found == {
        ("SLOT_TOO_SHORT", 3, None, None, None, None),
        ("COURT_CONFLICT", 2, 4, None, None, None),
        ("JUDGE_CONFLICT", 1, 2, None, 1, None),
        ("REST_VIOLATION", 1, 3, 1, None, None),
        ("STAGE_ORDER", 5, None, None, None, 1),  # round 1 still has unassigned match 6
    }
    court = next(v for v in report.violations if v.code == "COURT_CONFLICT")
    assert (court.slot_id, court.related_slot_id, court.court_id) == (2, 2, 2)
    assert [(u.match_id, u.stage, u.reason_code) for u in report.unassigned] == [
        (6, "Round 1", "NO_FREE_SLOT")
    ]
    s = report.summary
    assert (s.total_matches, s.assigned_count, s.unassigned_count, s.total_slots) == (6, 5, 1, 4)
    assert (s.used_slots_count, s.locked_count, s.manual_count, s.violation_count) == (4, 1, 1, 5)
    assert not s.conflict_free
    assert report.slot_pressure.unused_slots_count == 0
    assert report.ordering_integrity.deterministic_order_ok is False
    assert [v.match_id for v in report.ordering_integrity.violations] == [5]


def test_stage_timeline_and_ordering_pairs() -> None:
    inp = broken()
    # Give match 6 a home so round 1 is complete: the final (slot 4, +200 min) then runs after
    # all of round 1. Swapping the final (to +90) and match 6 (to +200) breaks it pairwise.
    inp = replace(inp, slots=(*inp.slots, slot(5, 2, 90)))
    inp = inp.with_assignment(Assignment(6, 10, 6, 5, False, "AUTO"))
    report = ConflictReportBuilder.compute(inp)
    assert report.ordering_integrity.deterministic_order_ok
    stage1 = report.stage_timeline[0]
    assert (stage1.stage, stage1.assigned_count, stage1.unassigned_count) == ("Round 1", 4, 0)
    assert stage1.first_assigned_start_time == T0
    assert stage1.last_assigned_end_time == T0 + timedelta(minutes=150)
    bad = inp.with_assignment(Assignment(5, 10, 5, 5, False, "AUTO"))
    bad = bad.with_assignment(Assignment(6, 10, 6, 4, False, "AUTO"))
    pairs = ConflictReportBuilder.compute(bad).ordering_integrity.violations
    assert {(v.match_id, v.related_match_id) for v in pairs} == {(5, 3), (5, 6)}


def test_event_filter_and_unknown_event() -> None:
    report = ConflictReportBuilder.compute(broken(), event_id=2)
    assert report.summary.total_matches == 1 and report.summary.event_id == 2
    # The cross-event court clash is still reported from the junior event's side.
    assert [(v.code, v.match_id, v.related_match_id) for v in report.violations] == [
        ("COURT_CONFLICT", 2, 4)
    ]
    assert [t.stage for t in report.stage_timeline] == ["Junior R1"]
    assert report.slot_pressure.total_slots == 4  # slots are shared, pressure is global
    with pytest.raises(NotFound) as err:
        ConflictReportBuilder.compute(broken(), event_id=99)
    assert err.value.status_code == 404


def test_clone_preserves_locked_assignments() -> None:
    inp = broken()
    version, rows = clone_version(inp, 11, 4)
    assert version == ScheduleVersion(11, 1, 4, VersionStatus.DRAFT, parent_version_id=10)
    assert [(r.match_id, r.slot_id, r.locked, r.assigned_by) for r in rows] == [
        (a.match_id, a.slot_id, a.locked, a.assigned_by) for a in inp.assignments
    ]
    assert all(r.version_id == 11 and r.id == -r.match_id for r in rows)
    clone = replace(inp, version=version, assignments=tuple(rows))
    result = auto_assign(clone)
    locked = [a for a in result.assignments if a.locked]
    assert [(a.match_id, a.slot_id) for a in locked] == [(1, 1)]


def test_finalized_versions_can_be_cloned_into_drafts() -> None:
    inp = broken().with_version(ScheduleVersion(10, 1, 3, VersionStatus.FINALIZED))
    version, rows = clone_version(inp, 12, 5)
    assert version.status is VersionStatus.DRAFT and len(rows) == 5


def test_finalize_rules() -> None:
    with pytest.raises(FinalizeBlocked) as err:
        finalize(broken())
    assert err.value.status_code == 422
    assert {v.code.value for v in err.value.violations} >= {"UNASSIGNED_MATCH", "COURT_CONFLICT"}
    clean = synthetic_tournament(teams=8, courts=2, days=2, break_size=2)
    clean = auto_assign(clean).apply_to(clean)
    assert finalize_check(clean) == []
    done = finalize(clean)
    assert done.status is VersionStatus.FINALIZED and done.id == clean.version.id
    with pytest.raises(VersionFinalized):
        finalize(clean.with_version(done))
    partial = clean.with_assignment(replace(clean.assignments[-1], slot_id=None))
    assert [v.code.value for v in finalize_check(partial)] == ["UNASSIGNED_MATCH"]
    assert finalize(partial, allow_unassigned=True).is_finalized


def test_validate_slots_reports_each_problem() -> None:
    courts = [Court(1, "A", 1)]
    naive = Slot(9, 1, date(2026, 3, 2), datetime(2026, 3, 2, 9), 60)
    found = validate_slots(
        [slot(1, 1, 0, 90), slot(2, 1, 60), slot(3, 7, 0), slot(4, 1, 300, 0), slot(4, 1, 400)],
        courts,
    )
    assert [(v.code.value, v.slot_id, v.related_slot_id) for v in found] == [
        ("SLOT_OVERLAP", 1, 2),
        ("INVALID_DURATION", 4, None),
        ("UNKNOWN_REFERENCE", 3, None),
        ("DUPLICATE_ID", None, None),
    ]
    assert [v.code.value for v in validate_slots([naive], courts)] == ["NAIVE_DATETIME"]
    assert validate_slots([slot(1, 1, 0), slot(2, 1, 60)], courts) == []  # touching is fine


def test_report_on_a_fresh_version_says_not_yet_assigned() -> None:
    inp = synthetic_tournament(teams=4, courts=1, days=1, prelim_rounds=1, break_size=2)
    report = ConflictReportBuilder.compute(inp)
    assert [(u.match_id, u.reason_code) for u in report.unassigned] == [
        (1, "NOT_YET_ASSIGNED"),
        (2, "NOT_YET_ASSIGNED"),
        (3, "STAGE_ORDER"),  # the final waits for the preliminary round
    ]
    assert report.unassigned[2].blocking_stage_ids == [1]
    assert report.slot_pressure.unused_slots_count == report.slot_pressure.total_slots == 8


def test_public_visibility_needs_opt_in_and_finalized() -> None:
    draft = ScheduleVersion(1, 1, 1)
    final = replace(draft, status=VersionStatus.FINALIZED)
    public, private = Tournament(1, "Open", True), Tournament(1, "Closed", False)
    assert [publicly_visible(t, v) for t in (public, private) for v in (draft, final)] == [
        False,
        True,
        False,
        False,
    ]
