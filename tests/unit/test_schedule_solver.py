"""Auto-assign: locked facts, determinism, every placement rule and every reason code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.scheduling.core import (
    Assignment,
    ConflictReportBuilder,
    Court,
    Event,
    InvalidScheduleInput,
    Judge,
    Match,
    ReasonCode,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    VersionFinalized,
    VersionStatus,
    auto_assign,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAGES = (Stage(1, 1, "Round 1", 1), Stage(2, 1, "Round 2", 2), Stage(3, 1, "Final", 3))


def slot(sid: int, court: int, at: int, minutes: int = 60) -> Slot:
    start = T0 + timedelta(minutes=at)
    return Slot(sid, court, start.date(), start, minutes)


def m(mid: int, a: int, b: int, *, stage: int = 1, judges: tuple[int, ...] = (), minutes: int = 60,
      event: int = 1) -> Match:  # fmt: skip
    return Match(mid, event, stage, a, b, judges, minutes)


def make(
    matches: list[Match],
    slots: list[Slot],
    *,
    assignments: tuple[Assignment, ...] = (),
    rest: int = 0,
    stages: tuple[Stage, ...] = STAGES,
    status: VersionStatus = VersionStatus.DRAFT,
    courts: tuple[Court, ...] = (Court(1, "A", 1), Court(2, "B", 2), Court(3, "C", 3)),
) -> ScheduleInput:
    return ScheduleInput(
        tournament=Tournament(1, "Cup", False, rest),
        version=ScheduleVersion(10, 1, 1, status),
        events=(Event(1, "Moot"), Event(2, "Junior")),
        stages=stages,
        teams=tuple(Team(i, f"T{i}") for i in range(1, 13)),
        judges=tuple(Judge(i, f"J{i}") for i in range(1, 7)),
        courts=courts,
        slots=tuple(slots),
        matches=tuple(matches),
        assignments=assignments,
    )


def placed(result_inp: ScheduleInput) -> dict[int, int | None]:
    return {a.match_id: a.slot_id for a in result_inp.assignments}


def test_locked_assignments_not_moved_by_autoassign() -> None:
    locked = Assignment(7, 10, 1, slot_id=3, locked=True, assigned_by="MANUAL")
    inp = make(
        [m(1, 1, 2), m(2, 3, 4), m(3, 5, 6)],
        [slot(1, 1, 0), slot(2, 2, 0), slot(3, 1, 120), slot(4, 2, 120)],
        assignments=(locked,),
    )
    result = auto_assign(inp)
    by_match = {a.match_id: a for a in result.assignments}
    assert by_match[1] == locked  # untouched, even though earlier slots are free
    assert {by_match[2].slot_id, by_match[3].slot_id} == {1, 2}
    assert result.locked_count == 1 and result.placed_count == 2
    # Re-running on its own output changes nothing.
    again = auto_assign(result.apply_to(inp))
    assert again.assignments == result.assignments


def test_locked_unassigned_stays_unassigned() -> None:
    row = Assignment(7, 10, 1, locked=True, assigned_by="MANUAL")
    result = auto_assign(make([m(1, 1, 2)], [slot(1, 1, 0)], assignments=(row,)))
    assert result.assignments == (row,)
    assert [d.reason_code for d in result.unassigned] == [ReasonCode.LOCKED_UNASSIGNED]


def test_auto_assign_is_deterministic_and_order_independent() -> None:
    matches = [m(i, 2 * i - 1, 2 * i, judges=(i % 3 + 1,)) for i in range(1, 6)]
    slots = [slot(10 * c + k, c, 60 * k) for c in (1, 2) for k in range(4)]
    inp = make(matches, slots, rest=30)
    runs = [auto_assign(inp) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert repr(runs[0]) == repr(runs[2])
    shuffled = make(matches[::-1], slots[::-1], rest=30)
    assert auto_assign(shuffled) == runs[0]


def test_auto_assign_refuses_finalized_version() -> None:
    inp = make([m(1, 1, 2)], [slot(1, 1, 0)], status=VersionStatus.FINALIZED)
    with pytest.raises(VersionFinalized) as err:
        auto_assign(inp)
    assert err.value.status_code == 422 and err.value.code == "VERSION_FINALIZED"


def test_prefers_earliest_start_then_lowest_court_number() -> None:
    courts = (Court(1, "Z", 5), Court(2, "Y", 1))
    inp = make([m(1, 1, 2)], [slot(1, 1, 0), slot(2, 2, 0), slot(3, 2, -60)], courts=courts)
    assert placed(auto_assign(inp).apply_to(inp)) == {1: 3}
    inp = make([m(1, 1, 2)], [slot(1, 1, 0), slot(2, 2, 0)], courts=courts)
    assert placed(auto_assign(inp).apply_to(inp)) == {1: 2}  # court number 1 beats id 1


def test_new_rows_get_provisional_ids_existing_rows_keep_theirs() -> None:
    existing = Assignment(55, 10, 2, slot_id=1, assigned_by="AUTO")
    result = auto_assign(make([m(1, 1, 2), m(2, 3, 4)], [slot(1, 1, 0)], assignments=(existing,)))
    assert [(a.id, a.match_id) for a in result.assignments] == [(-1, 1), (55, 2)]
    # Unlocked rows are re-placed: match 1 (lower id) now takes the only slot.
    assert [a.slot_id for a in result.assignments] == [1, None]


def test_no_slot_long_enough() -> None:
    result = auto_assign(make([m(1, 1, 2, minutes=120)], [slot(1, 1, 0, 90), slot(2, 2, 0, 60)]))
    (d,) = result.unassigned
    assert d.reason_code is ReasonCode.NO_SLOT_LONG_ENOUGH
    assert "120" in d.reason and "90" in d.reason
    assert result.assignments[0].reason_code == "NO_SLOT_LONG_ENOUGH"
    assert result.assignments[0].slot_id is None and result.assignments[0].assigned_by is None


def test_no_free_slot() -> None:
    result = auto_assign(make([m(1, 1, 2), m(2, 3, 4), m(3, 5, 6)], [slot(1, 1, 0), slot(2, 2, 0)]))
    (d,) = result.unassigned
    assert (d.match_id, d.reason_code) == (3, ReasonCode.NO_FREE_SLOT)
    assert set(d.blocking_match_ids) == {1, 2}


def test_team_conflict_when_only_parallel_slots() -> None:
    result = auto_assign(make([m(1, 1, 2), m(2, 2, 3)], [slot(1, 1, 0), slot(2, 2, 0)]))
    (d,) = result.unassigned
    assert (d.match_id, d.reason_code, d.blocking_team_ids) == (2, ReasonCode.TEAM_CONFLICT, (2,))
    assert d.blocking_match_ids == (1,)


def test_judge_conflict_when_only_parallel_slots() -> None:
    inp = make([m(1, 1, 2, judges=(1,)), m(2, 3, 4, judges=(1, 2))], [slot(1, 1, 0), slot(2, 2, 0)])
    (d,) = auto_assign(inp).unassigned
    assert (d.match_id, d.reason_code, d.blocking_judge_ids) == (2, ReasonCode.JUDGE_CONFLICT, (1,))


def test_rest_is_enforced_for_teams_and_judges() -> None:
    slots = [slot(1, 1, 0), slot(2, 1, 60), slot(3, 1, 90)]
    team = auto_assign(make([m(1, 1, 2), m(2, 2, 3)], slots, rest=30))
    assert [a.slot_id for a in team.assignments] == [1, 3]  # slot 2 gives 0 min rest
    judge = auto_assign(make([m(1, 1, 2, judges=(4,)), m(2, 5, 6, judges=(4,))], slots, rest=31))
    (d,) = judge.unassigned
    assert (d.reason_code, d.blocking_judge_ids) == (ReasonCode.REST_VIOLATION, (4,))
    back_to_back = auto_assign(make([m(1, 1, 2), m(2, 2, 3)], slots[:2], rest=0))
    assert [a.slot_id for a in back_to_back.assignments] == [1, 2]


def test_later_stage_starts_after_every_earlier_match_ends() -> None:
    # Disjoint teams, free early slots: round 2 must still wait for round 1's 90-minute match.
    inp = make(
        [m(1, 1, 2, minutes=90), m(2, 3, 4, stage=2)],
        [slot(1, 1, 0, 90), slot(2, 2, 0), slot(3, 2, 60), slot(4, 2, 90)],
    )
    assert placed(auto_assign(inp).apply_to(inp)) == {1: 1, 2: 4}


def test_equal_order_stages_run_concurrently_and_events_are_independent() -> None:
    stages = (Stage(1, 1, "R1a", 1), Stage(2, 1, "R1b", 1), Stage(3, 2, "Junior R2", 2))
    inp = make(
        [m(1, 1, 2, stage=1), m(2, 3, 4, stage=2), m(3, 5, 6, stage=3, event=2)],
        [slot(1, 1, 0), slot(2, 2, 0), slot(3, 3, 0)],
        stages=stages,
    )
    assert placed(auto_assign(inp).apply_to(inp)) == {1: 1, 2: 2, 3: 3}


def test_unplaceable_earlier_stage_blocks_later_stages() -> None:
    inp = make([m(1, 1, 2, minutes=200), m(2, 3, 4, stage=2)], [slot(1, 1, 0), slot(2, 1, 120)])
    result = auto_assign(inp)
    codes = {d.match_id: d.reason_code for d in result.unassigned}
    assert codes == {1: ReasonCode.NO_SLOT_LONG_ENOUGH, 2: ReasonCode.STAGE_ORDER}
    assert result.unassigned[1].blocking_stage_ids == (1,)


def test_locked_later_stage_match_caps_earlier_stage() -> None:
    final = Assignment(9, 10, 2, slot_id=2, locked=True, assigned_by="MANUAL")
    inp = make(
        [m(1, 1, 2), m(2, 3, 4, stage=2)],
        [slot(1, 1, 90), slot(2, 2, 60), slot(3, 3, 0)],
        assignments=(final,),
    )
    assert placed(auto_assign(inp).apply_to(inp)) == {1: 3, 2: 2}
    late = make([m(1, 1, 2), m(2, 3, 4, stage=2)], [slot(1, 1, 90), slot(2, 2, 60)],
                assignments=(final,))  # fmt: skip
    (d,) = auto_assign(late).unassigned
    assert (d.match_id, d.reason_code, d.blocking_match_ids) == (1, ReasonCode.STAGE_ORDER, (2,))


def test_overlapping_slots_never_double_book_a_court() -> None:
    inp = make([m(1, 1, 2), m(2, 3, 4)], [slot(1, 1, 0, 90), slot(2, 1, 60, 90)])
    result = auto_assign(inp)
    assert [a.slot_id for a in result.assignments] == [1, None]
    assert result.unassigned[0].reason_code is ReasonCode.NO_FREE_SLOT
    report = ConflictReportBuilder.compute(result.apply_to(inp))
    assert [v.code for v in report.violations] == ["SLOT_OVERLAP"]


def test_structurally_broken_input_is_a_422() -> None:
    with pytest.raises(InvalidScheduleInput) as err:
        auto_assign(make([m(1, 1, 99), m(2, 3, 3)], [slot(1, 4, 0)]))
    assert err.value.status_code == 422
    codes = sorted(v.code.value for v in err.value.violations)
    assert codes == ["INVALID_MATCH", "UNKNOWN_REFERENCE", "UNKNOWN_REFERENCE"]
