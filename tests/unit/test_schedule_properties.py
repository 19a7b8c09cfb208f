"""Property tests over random tournaments, checked against a brute-force rule checker.

`brute_force` re-implements every placement rule naively (all pairs, plain datetimes), so the
solver, the manual-move validator and the conflict report are each compared with an
independent oracle rather than with themselves.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import combinations

from hypothesis import HealthCheck, given, settings, strategies as st

from server.scheduling.core import (
    Assignment,
    ConflictReportBuilder,
    Court,
    Event,
    Judge,
    Match,
    ReasonCode,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    Violation,
    ViolationV1,
    apply_manual_move,
    auto_assign,
    clone_version,
    validate_manual_move,
)
from server.scheduling.core.constraints import Occupancy, evaluate, stage_window
from server.scheduling.core.index import build_index
from server.scheduling.core.violations import PIPELINE_RANK

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Key = tuple[str, frozenset[int], int | None, int | None, int | None]


@st.composite
def tournaments(draw: st.DrawFn, *, all_rows: bool = False) -> ScheduleInput:
    n_courts = draw(st.integers(1, 3))
    courts = tuple(Court(i, f"C{i}", draw(st.integers(1, 3))) for i in range(1, n_courts + 1))
    slots: list[Slot] = []
    for court in courts:
        for _ in range(draw(st.integers(0, 4))):
            start = T0 + timedelta(minutes=15 * draw(st.integers(0, 32)))
            minutes = draw(st.sampled_from([30, 45, 60, 90]))
            slots.append(Slot(len(slots) + 1, court.id, start.date(), start, minutes))
    events = tuple(Event(i, f"E{i}") for i in range(1, draw(st.integers(1, 2)) + 1))
    stages: list[Stage] = []
    for event in events:
        for _ in range(draw(st.integers(1, 3))):
            stages.append(
                Stage(len(stages) + 1, event.id, f"S{len(stages) + 1}", draw(st.integers(1, 3)))
            )
    n_teams, n_judges = draw(st.integers(2, 6)), draw(st.integers(0, 3))
    matches = []
    for mid in range(1, draw(st.integers(1, 8)) + 1):
        stage = draw(st.sampled_from(stages))
        a, b = draw(st.lists(st.integers(1, n_teams), min_size=2, max_size=2, unique=True))
        judges = (
            draw(st.lists(st.integers(1, n_judges), max_size=2, unique=True)) if n_judges else []
        )
        minutes = draw(st.sampled_from([30, 45, 60, 90]))
        matches.append(Match(mid, stage.event_id, stage.id, a, b, tuple(sorted(judges)), minutes))
    slot_ids = [None, *(s.id for s in slots)]
    rows = []
    for match in matches:
        kind = draw(
            st.sampled_from(["row", "row", "locked"] if all_rows else ["none", "row", "locked"])
        )
        if kind != "none":
            slot_id = draw(st.sampled_from(slot_ids))
            locked = kind == "locked"
            rows.append(
                Assignment(
                    100 + match.id, 1, match.id, slot_id, locked, "MANUAL" if locked else "AUTO"
                )
            )
    return ScheduleInput(
        tournament=Tournament(1, "Prop", False, draw(st.sampled_from([0, 15, 30]))),
        version=ScheduleVersion(1, 1, 1),
        events=events,
        stages=tuple(stages),
        teams=tuple(Team(i, f"T{i}") for i in range(1, n_teams + 1)),
        judges=tuple(Judge(i, f"J{i}") for i in range(1, n_judges + 1)),
        courts=courts,
        slots=tuple(slots),
        matches=tuple(matches),
        assignments=tuple(rows),
    )


def brute_force(inp: ScheduleInput) -> set[Key]:
    slots = {s.id: s for s in inp.slots}
    matches = {m.id: m for m in inp.matches}
    stages = {s.id: s for s in inp.stages}
    rest = timedelta(minutes=inp.tournament.min_rest_minutes)
    placed = {a.match_id: slots[a.slot_id] for a in inp.assignments if a.slot_id is not None}

    def run(mid: int) -> tuple[datetime, datetime]:
        return placed[mid].start, placed[mid].start + timedelta(
            minutes=matches[mid].duration_minutes
        )

    out: set[Key] = set()
    for mid, slot in placed.items():
        if slot.duration_minutes < matches[mid].duration_minutes:
            out.add(("SLOT_TOO_SHORT", frozenset({mid}), None, None, None))
        own = stages[matches[mid].stage_id]
        for st_ in inp.stages:
            if st_.event_id == own.event_id and st_.order < own.order:
                if any(m.stage_id == st_.id and m.id not in placed for m in inp.matches):
                    out.add(("STAGE_ORDER", frozenset({mid}), None, None, st_.id))
    for a, b in combinations(sorted(placed), 2):
        pair = frozenset({a, b})
        sa, sb = placed[a], placed[b]
        if sa.court_id == sb.court_id and sa.start < sb.end and sb.start < sa.end:
            out.add(("COURT_CONFLICT", pair, None, None, None))
        (a0, a1), (b0, b1) = run(a), run(b)
        overlap = a0 < b1 and b0 < a1
        near = a0 < b1 + rest and b0 < a1 + rest
        ma, mb = matches[a], matches[b]
        for team in set(ma.team_ids) & set(mb.team_ids):
            if overlap or near:
                out.add(("TEAM_CONFLICT" if overlap else "REST_VIOLATION", pair, team, None, None))
        for judge in set(ma.judge_ids) & set(mb.judge_ids):
            if overlap or near:
                out.add(
                    ("JUDGE_CONFLICT" if overlap else "REST_VIOLATION", pair, None, judge, None)
                )
        xa, xb = stages[ma.stage_id], stages[mb.stage_id]
        if xa.event_id == xb.event_id and xa.order != xb.order:
            (early_end, late_start) = (a1, b0) if xa.order < xb.order else (b1, a0)
            if early_end > late_start:
                out.add(("STAGE_ORDER", pair, None, None, None))
    return out


def key(v: Violation | ViolationV1) -> Key:
    code = v.code if isinstance(v.code, str) else v.code.value
    ids = frozenset(i for i in (v.match_id, v.related_match_id) if i is not None)
    stage = v.related_stage_id if v.related_match_id is None else None
    return (str(code), ids, v.team_id, v.judge_id, stage)


def reversed_rows(inp: ScheduleInput) -> ScheduleInput:
    return replace(
        inp,
        events=inp.events[::-1],
        stages=inp.stages[::-1],
        teams=inp.teams[::-1],
        judges=inp.judges[::-1],
        courts=inp.courts[::-1],
        slots=inp.slots[::-1],
        matches=inp.matches[::-1],
        assignments=inp.assignments[::-1],
    )


@SETTINGS
@given(tournaments())
def test_auto_assign_only_locked_rows_can_break_rules(inp: ScheduleInput) -> None:
    result = auto_assign(inp)
    after = result.apply_to(inp)
    locked = {a.match_id: a for a in inp.assignments if a.locked}
    # Locked rows come back untouched; everything else is placed by AUTO or explained.
    assert {a.match_id: a for a in result.assignments if a.locked} == locked
    for a in result.assignments:
        if not a.locked:
            assert (a.assigned_by == "AUTO") == (a.slot_id is not None)
            assert (a.reason_code is None) == (a.slot_id is not None)
    # No double-booked court, team or judge, no short rest, no stage-order break, unless every
    # match involved is locked (the solver cannot repair an admin's decision).
    for _code, ids, *_ in brute_force(after):
        assert ids <= set(locked), (_code, ids)
    # Greedy is maximal: no unlocked leftover had a valid slot.
    assert all(d.reason_code is not ReasonCode.NOT_YET_ASSIGNED for d in result.unassigned)


@SETTINGS
@given(tournaments())
def test_report_matches_oracle_and_is_deterministic(inp: ScheduleInput) -> None:
    after = auto_assign(inp).apply_to(inp)
    for schedule in (inp, after):
        report = ConflictReportBuilder.compute(schedule)
        found = {key(v) for v in report.violations if v.code != "SLOT_OVERLAP"}
        assert found == brute_force(schedule)
        assert len(report.violations) == len(
            {(key(v), v.slot_id, v.related_slot_id) for v in report.violations}
        )
        unassigned = {m.id for m in schedule.matches} - {
            a.match_id for a in schedule.assignments if a.slot_id is not None
        }
        assert [u.match_id for u in report.unassigned] == sorted(unassigned)
        body = report.model_dump_json()
        assert ConflictReportBuilder.compute(schedule).model_dump_json() == body
        assert ConflictReportBuilder.compute(reversed_rows(schedule)).model_dump_json() == body
    # The report explains leftovers exactly as the solver did.
    result = auto_assign(inp)
    report = ConflictReportBuilder.compute(result.apply_to(inp))
    assert [(d.match_id, d.reason_code.value, d.reason) for d in result.unassigned] == [
        (u.match_id, u.reason_code, u.reason) for u in report.unassigned
    ]
    assert auto_assign(reversed_rows(inp)) == result


@SETTINGS
@given(tournaments(all_rows=True), st.data())
def test_manual_validation_matches_oracle(inp: ScheduleInput, data: st.DataObject) -> None:
    if not inp.slots:
        return
    row = data.draw(st.sampled_from(inp.assignments))
    target = data.draw(st.sampled_from(inp.slots)).id
    found = validate_manual_move(inp, row.id, target)
    moved = inp.with_assignment(replace(row, slot_id=target))
    expected = {k for k in brute_force(moved) if row.match_id in k[1]}
    assert {key(v) for v in found} == expected
    if not found:
        assert apply_manual_move(inp, row.id, target).locked
    # The solver's fast path stops at the first broken rule of the same pipeline.
    idx = build_index(inp)
    match = idx.matches[row.match_id]
    occ = Occupancy.from_assignments(idx, exclude_match_id=match.id)
    window = stage_window(occ, match.stage_id)
    fast = evaluate(occ, match, target, window, collect=False)
    full = evaluate(occ, match, target, window, collect=True)
    assert bool(fast) == bool(full)
    if fast:
        assert fast[0].code == min((v.code for v in full), key=PIPELINE_RANK.__getitem__)


@SETTINGS
@given(tournaments())
def test_clone_then_reassign_keeps_locked(inp: ScheduleInput) -> None:
    version, rows = clone_version(inp, 2, 2)
    clone = replace(inp, version=version, assignments=tuple(rows))
    assert [(r.match_id, r.slot_id, r.locked) for r in rows] == sorted(
        (a.match_id, a.slot_id, a.locked) for a in inp.assignments
    )
    before = {(a.match_id, a.slot_id) for a in rows if a.locked}
    after = {(a.match_id, a.slot_id) for a in auto_assign(clone).assignments if a.locked}
    assert after == before
