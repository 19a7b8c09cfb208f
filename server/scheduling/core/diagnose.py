"""Why an unassigned match has no home: one reason code plus the evidence behind it.

The same function explains the solver's leftovers and the conflict report's unassigned list, so
both always agree. Every slot is tried; the reason is the rule that the most promising slot
failed last (a later rule in the pipeline is more specific: "there are free slots in the stage
window, but team 7 plays in all of them" beats "some slots are taken").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from server.scheduling.core.constraints import Occupancy, StageWindow, evaluate
from server.scheduling.core.index import fmt_time
from server.scheduling.core.model import Match
from server.scheduling.core.violations import PIPELINE, PIPELINE_RANK, ReasonCode


@dataclass(frozen=True, slots=True)
class Diagnosis:
    match_id: int
    reason_code: ReasonCode
    reason: str
    # How many slots failed first at each pipeline rule, in pipeline order.
    slot_failures: tuple[tuple[ReasonCode, int], ...] = ()
    blocking_match_ids: tuple[int, ...] = ()
    blocking_team_ids: tuple[int, ...] = ()
    blocking_judge_ids: tuple[int, ...] = ()
    blocking_stage_ids: tuple[int, ...] = ()


def diagnose(occ: Occupancy, match: Match, window: StageWindow, *, locked: bool) -> Diagnosis:
    idx = occ.idx
    if locked:
        return Diagnosis(
            match.id,
            ReasonCode.LOCKED_UNASSIGNED,
            f"match {match.id} is locked without a slot; auto-assign leaves it alone",
        )
    if window.incomplete_stage_ids:
        names = ", ".join(repr(idx.stages[s].name) for s in window.incomplete_stage_ids)
        return Diagnosis(
            match.id,
            ReasonCode.STAGE_ORDER,
            f"earlier stage(s) {names} still have unassigned matches",
            blocking_stage_ids=window.incomplete_stage_ids,
        )
    if not idx.slots_sorted:
        return Diagnosis(match.id, ReasonCode.NO_FREE_SLOT, "the tournament has no slots")

    longest = max(s.duration_minutes for s in idx.slots_sorted)
    if match.duration_minutes > longest:  # skip the scan: every slot fails rule 1
        return Diagnosis(
            match.id,
            ReasonCode.NO_SLOT_LONG_ENOUGH,
            f"match {match.id} needs {match.duration_minutes} min; the longest slot is "
            f"{longest} min",
            ((ReasonCode.SLOT_TOO_SHORT, len(idx.slots_sorted)),),
        )
    first_codes: dict[int, ReasonCode] = {}
    for slot in idx.slots_sorted:
        found = evaluate(occ, match, slot.id, window, collect=False)
        if not found:
            return Diagnosis(
                match.id,
                ReasonCode.NOT_YET_ASSIGNED,
                f"slot {slot.id} is free and valid for match {match.id}; run auto-assign or "
                "assign it manually",
            )
        first_codes[slot.id] = found[0].code
    counts = Counter(first_codes.values())
    failures = tuple((code, counts[code]) for code in PIPELINE if counts[code])
    furthest = max(counts, key=lambda code: PIPELINE_RANK[code])

    # Evidence: every rule violation of the slots that got furthest.
    matches: set[int] = set()
    teams: set[int] = set()
    judges: set[int] = set()
    stages: set[int] = set()
    if furthest is ReasonCode.STAGE_ORDER:
        matches.update(_window_edges(occ, match, window))
    for slot_id, code in first_codes.items():
        if code is not furthest or furthest is ReasonCode.STAGE_ORDER:
            continue  # stage evidence comes from the window edges (scanning per slot is slow)
        for v in evaluate(occ, match, slot_id, window, collect=True):
            if v.code is not furthest:
                continue
            for bucket, value in (
                (matches, v.related_match_id),
                (teams, v.team_id),
                (judges, v.judge_id),
                (stages, v.related_stage_id),
            ):
                if value is not None:
                    bucket.add(value)
    usable = sum(n for code, n in failures if code is not ReasonCode.SLOT_TOO_SHORT)
    reason_code = ReasonCode.NO_FREE_SLOT if furthest is ReasonCode.COURT_CONFLICT else furthest
    text = {
        ReasonCode.COURT_CONFLICT: f"all {usable} slots long enough are already taken",
        ReasonCode.STAGE_ORDER: _window_text(window),
        ReasonCode.TEAM_CONFLICT: f"every free slot in the stage window clashes with another "
        f"match of team(s) {_ids(teams)}",
        ReasonCode.JUDGE_CONFLICT: f"every free slot in the stage window clashes with another "
        f"match of judge(s) {_ids(judges)}",
        ReasonCode.REST_VIOLATION: f"every remaining slot leaves team(s) {_ids(teams) or '-'} "
        f"/ judge(s) {_ids(judges) or '-'} less than {idx.rest_s // 60} min rest",
    }[furthest]
    return Diagnosis(
        match.id,
        reason_code,
        f"match {match.id}: {text}",
        failures,
        tuple(sorted(matches)),
        tuple(sorted(teams)),
        tuple(sorted(judges)),
        tuple(sorted(stages)),
    )


def _window_edges(occ: Occupancy, match: Match, window: StageWindow) -> set[int]:
    """Matches of other stages whose end / start fix the stage window's bounds."""
    idx = occ.idx
    stage = idx.stages[match.stage_id]
    edges: set[int] = set()
    for other in idx.event_stages[stage.event_id]:
        for other_id in idx.stage_matches[other.id]:
            times = occ.times.get(other_id)
            if times is None or other.order == stage.order:
                continue
            if other.order < stage.order and times[1] == window.not_before:
                edges.add(other_id)
            elif other.order > stage.order and times[0] == window.not_after:
                edges.add(other_id)
    return edges


def _window_text(window: StageWindow) -> str:
    bounds = []
    if window.not_before is not None:
        bounds.append(f"start at or after {fmt_time(window.not_before)} (end of earlier stages)")
    if window.not_after is not None:
        bounds.append(f"end by {fmt_time(window.not_after)} (start of later stages)")
    return "every free slot long enough lies outside the stage window: it must " + " and ".join(
        bounds
    )


def _ids(values: set[int]) -> str:
    return ", ".join(str(v) for v in sorted(values))
