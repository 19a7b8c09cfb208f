"""Every rule violation among placed matches, found by sorted sweeps (output-sensitive).

These are exactly the rules of `constraints.evaluate`, applied to all pairs at once: for any
placed match M, the violations here that name M equal `evaluate(M, its slot, collect=True)`
on the schedule without M (tests check this). Pair violations are emitted once, canonically:
for court/team/judge/rest the smaller match id is `match_id`; for stage order `match_id` is the
match of the later stage.
"""

from __future__ import annotations

from collections import defaultdict

from server.scheduling.core.constraints import Occupancy
from server.scheduling.core.index import fmt_time
from server.scheduling.core.violations import ReasonCode, Violation


def placement_violations(occ: Occupancy) -> list[Violation]:
    out: list[Violation] = []
    out.extend(_too_short(occ))
    out.extend(_courts(occ))
    out.extend(_people(occ, "team"))
    out.extend(_people(occ, "judge"))
    out.extend(_stage_order(occ))
    return out


def _too_short(occ: Occupancy) -> list[Violation]:
    idx = occ.idx
    out = []
    for match_id in sorted(occ.placed):
        match, slot = idx.matches[match_id], idx.slots[occ.placed[match_id]]
        if slot.duration_minutes < match.duration_minutes:
            out.append(
                Violation(
                    ReasonCode.SLOT_TOO_SHORT,
                    f"match {match_id} needs {match.duration_minutes} min, slot {slot.id} has "
                    f"{slot.duration_minutes} min",
                    match_id=match_id,
                    slot_id=slot.id,
                    court_id=slot.court_id,
                    stage_id=match.stage_id,
                )
            )
    return out


def _pair(
    code: ReasonCode,
    text: str,
    a: int,
    b: int,
    occ: Occupancy,
    *,
    court_id: int | None = None,
    team_id: int | None = None,
    judge_id: int | None = None,
) -> Violation:
    first, second = min(a, b), max(a, b)
    return Violation(
        code,
        text,
        match_id=first,
        related_match_id=second,
        slot_id=occ.placed[first],
        related_slot_id=occ.placed[second],
        stage_id=occ.idx.matches[first].stage_id,
        court_id=court_id,
        team_id=team_id,
        judge_id=judge_id,
    )


def _courts(occ: Occupancy) -> list[Violation]:
    idx = occ.idx
    by_court: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for match_id, slot_id in occ.placed.items():
        by_court[idx.slots[slot_id].court_id].append(
            (idx.slot_start[slot_id], idx.slot_end[slot_id], match_id)
        )
    out = []
    for court_id in sorted(by_court):
        items = sorted(by_court[court_id])
        for i, (_, end_i, a) in enumerate(items):
            for start_j, _, b in items[i + 1 :]:
                if start_j >= end_i:
                    break
                out.append(
                    _pair(
                        ReasonCode.COURT_CONFLICT,
                        f"matches {min(a, b)} and {max(a, b)} both use court {court_id} at the "
                        "same time",
                        a,
                        b,
                        occ,
                        court_id=court_id,
                    )
                )
    return out


def _people(occ: Occupancy, kind: str) -> list[Violation]:
    busy = occ.team_busy if kind == "team" else occ.judge_busy
    clash = ReasonCode.TEAM_CONFLICT if kind == "team" else ReasonCode.JUDGE_CONFLICT
    rest = occ.idx.rest_s
    out = []
    for person in sorted(busy):
        items = sorted(busy[person])
        for i, (_, end_i, a) in enumerate(items):
            for start_j, _, b in items[i + 1 :]:
                if start_j >= end_i + rest:
                    break  # sorted by start: later matches are even further away
                lo, hi = min(a, b), max(a, b)
                if start_j < end_i:
                    text = f"{kind} {person} is in matches {lo} and {hi} at the same time"
                    code = clash
                else:
                    text = (
                        f"{kind} {person} gets {(start_j - end_i) // 60} min rest between "
                        f"matches {lo} and {hi} (minimum {rest // 60})"
                    )
                    code = ReasonCode.REST_VIOLATION
                team_id, judge_id = (person, None) if kind == "team" else (None, person)
                out.append(_pair(code, text, a, b, occ, team_id=team_id, judge_id=judge_id))
    return out


def _stage_order(occ: Occupancy) -> list[Violation]:
    idx = occ.idx
    out = []
    for event_id in sorted(idx.event_stages):
        levels: dict[int, list[int]] = defaultdict(list)
        for stage in idx.event_stages[event_id]:
            levels[stage.order].append(stage.id)
        earlier: list[tuple[int, int]] = []  # (end, match_id) of placed earlier-stage matches
        incomplete: list[int] = []
        for order in sorted(levels):
            current: list[int] = []
            level_incomplete: list[int] = []
            for stage_id in levels[order]:
                for match_id in idx.stage_matches[stage_id]:
                    (current if match_id in occ.placed else level_incomplete).append(match_id)
            earlier.sort(reverse=True)
            for match_id in current:
                start = occ.times[match_id][0]
                stage_id = idx.matches[match_id].stage_id
                for bad_stage in incomplete:
                    out.append(
                        Violation(
                            ReasonCode.STAGE_ORDER,
                            f"match {match_id} is scheduled while earlier stage {bad_stage} "
                            "still has unassigned matches",
                            match_id=match_id,
                            slot_id=occ.placed[match_id],
                            stage_id=stage_id,
                            related_stage_id=bad_stage,
                        )
                    )
                for end, other_id in earlier:
                    if end <= start:
                        break  # sorted by end, descending
                    other_stage = idx.matches[other_id].stage_id
                    out.append(
                        Violation(
                            ReasonCode.STAGE_ORDER,
                            f"match {other_id} of earlier stage {other_stage} ends at "
                            f"{fmt_time(end)}, after match {match_id} starts",
                            match_id=match_id,
                            related_match_id=other_id,
                            slot_id=occ.placed[match_id],
                            related_slot_id=occ.placed[other_id],
                            stage_id=stage_id,
                            related_stage_id=other_stage,
                        )
                    )
            earlier.extend((occ.times[m][1], m) for m in current)
            incomplete.extend(sorted({idx.matches[m].stage_id for m in level_incomplete}))
    return out
