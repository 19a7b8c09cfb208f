"""Manual moves: finalized guard, 404s, every refusal reason, lock semantics, PATCH response."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.scheduling.core import (
    Assignment,
    ConflictReportBuilder,
    Court,
    Event,
    Judge,
    ManualAssignmentValidationError,
    Match,
    NotFound,
    ReasonCode,
    ScheduleError,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    VersionFinalized,
    VersionStatus,
    apply_manual_move,
    auto_assign,
    build_manual_response,
    validate_manual_move,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def slot(sid: int, court: int, at: int, minutes: int = 60) -> Slot:
    start = T0 + timedelta(minutes=at)
    return Slot(sid, court, start.date(), start, minutes)


def make(status: VersionStatus = VersionStatus.DRAFT) -> ScheduleInput:
    """Round 1: matches 1 (teams 1-2, judge 1) and 2 (teams 3-4); round 2: match 3 (1-3)."""
    matches = (
        Match(1, 1, 1, 1, 2, (1,), 60),
        Match(2, 1, 1, 3, 4, (2,), 60),
        Match(3, 1, 2, 1, 3, (1, 2), 60),
    )
    slots = (
        slot(1, 1, 0),
        slot(2, 2, 0),
        slot(3, 1, 60),
        slot(4, 1, 90),
        slot(5, 2, 90, 30),
        slot(6, 2, 170),
    )
    assignments = (
        Assignment(101, 10, 1, 1, False, "AUTO"),
        Assignment(102, 10, 2, 2, False, "AUTO"),
        Assignment(103, 10, 3, 4, False, "AUTO"),
    )
    return ScheduleInput(
        tournament=Tournament(1, "Cup", True, 30),
        version=ScheduleVersion(10, 1, 1, status),
        events=(Event(1, "Moot"),),
        stages=(Stage(1, 1, "Round 1", 1), Stage(2, 1, "Round 2", 2)),
        teams=tuple(Team(i, f"T{i}", "Uni") for i in range(1, 5)),
        judges=(Judge(1, "J1"), Judge(2, "J2")),
        courts=(Court(1, "Court A", 1, 30), Court(2, "Court B", 2, 60)),
        slots=slots,
        matches=matches,
        assignments=assignments,
    )


def test_manual_move_fails_on_finalized_version() -> None:
    inp = make(VersionStatus.FINALIZED)
    with pytest.raises(VersionFinalized) as err:
        apply_manual_move(inp, 103, 6)
    assert isinstance(err.value, ScheduleError)
    assert (err.value.status_code, err.value.code, err.value.version_id) == (
        422,
        "VERSION_FINALIZED",
        10,
    )
    with pytest.raises(VersionFinalized):
        validate_manual_move(inp, 103, 6)


def test_unknown_ids_are_404_even_on_finalized_versions() -> None:
    for status in VersionStatus:
        with pytest.raises(NotFound) as err:
            apply_manual_move(make(status), 999, 6)
        assert (err.value.status_code, err.value.entity, err.value.entity_id) == (
            404,
            "assignment",
            999,
        )
        with pytest.raises(NotFound) as err:
            apply_manual_move(make(status), 103, 999)
        assert err.value.entity == "slot"


def test_valid_move_is_locked_and_manual() -> None:
    inp = make()
    assert validate_manual_move(inp, 103, 6) == []
    moved = apply_manual_move(inp, 103, 6)
    assert moved == Assignment(103, 10, 3, 6, True, "MANUAL")


def test_moving_to_the_current_slot_just_locks_it() -> None:
    moved = apply_manual_move(make(), 101, 1)
    assert (moved.slot_id, moved.locked, moved.assigned_by) == (1, True, "MANUAL")


@pytest.mark.parametrize(
    ("assignment_id", "slot_id", "expected"),
    [
        # slot 2 holds match 2 (court), and team 3 / judge 2 play match 2 there.
        (
            103,
            2,
            {
                (ReasonCode.COURT_CONFLICT, 2, None, None),
                (ReasonCode.STAGE_ORDER, 1, None, None),
                (ReasonCode.STAGE_ORDER, 2, None, None),
                (ReasonCode.TEAM_CONFLICT, 2, 3, None),
                (ReasonCode.JUDGE_CONFLICT, 2, None, 2),
                (ReasonCode.TEAM_CONFLICT, 1, 1, None),
                (ReasonCode.JUDGE_CONFLICT, 1, None, 1),
            },
        ),
        # slot 5 is 30 minutes long.
        (103, 5, {(ReasonCode.SLOT_TOO_SHORT, None, None, None)}),
        # slot 3 starts right when round 1 ends: fine for stage order, but 0 min rest < 30.
        (
            103,
            3,
            {
                (ReasonCode.REST_VIOLATION, 1, 1, None),
                (ReasonCode.REST_VIOLATION, 1, None, 1),
                (ReasonCode.REST_VIOLATION, 2, 3, None),
                (ReasonCode.REST_VIOLATION, 2, None, 2),
            },
        ),
        # Round 1 match moved after round 2's match: stage order, and 20 min rest < 30.
        (
            101,
            6,
            {
                (ReasonCode.STAGE_ORDER, 3, None, None),
                (ReasonCode.REST_VIOLATION, 3, 1, None),
                (ReasonCode.REST_VIOLATION, 3, None, 1),
            },
        ),
    ],
)
def test_invalid_moves_list_every_broken_rule(
    assignment_id: int,
    slot_id: int,
    expected: set[tuple[ReasonCode, int | None, int | None, int | None]],
) -> None:
    inp = make()
    found = validate_manual_move(inp, assignment_id, slot_id)
    assert {(v.code, v.related_match_id, v.team_id, v.judge_id) for v in found} == expected
    assert all(v.assignment_id == assignment_id and v.slot_id == slot_id for v in found)
    with pytest.raises(ManualAssignmentValidationError) as err:
        apply_manual_move(inp, assignment_id, slot_id)
    assert err.value.status_code == 422 and list(err.value.violations) == found


def test_manual_move_survives_auto_assign() -> None:
    inp = make()
    moved = apply_manual_move(inp, 103, 6)
    after = auto_assign(inp.with_assignment(moved))
    assert {a.match_id: a for a in after.assignments}[3] == moved


def test_manual_response_carries_the_full_report() -> None:
    inp = make()
    moved = apply_manual_move(inp, 103, 6)
    after = inp.with_assignment(moved)
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    response = build_manual_response(after, moved, assigned_at=at)
    assert response.model_dump(mode="json")["slot_key"] == {
        "day_date": "2026-03-02",
        "start_time": "2026-03-02T11:50:00Z",
        "court_number": 2,
        "court_label": "Court B",
    }
    assert (response.locked, response.assigned_by, response.validation_passed) == (
        True,
        "MANUAL",
        True,
    )
    assert response.conflict_report == ConflictReportBuilder.compute(after)
    assert response.conflicts_summary.locked_count == 1
    assert response.conflicts_summary.manual_count == 1
    assert response.unassigned_matches == []
    again = build_manual_response(after, moved, assigned_at=at)
    assert again.model_dump_json() == response.model_dump_json()
