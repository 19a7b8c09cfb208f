"""The placement rules, implemented once and shared by solver, manual moves and the report.

Time model (integer UTC seconds). A match placed in slot S runs [S.start, S.start + match
duration). Its court is busy for the whole slot [S.start, S.end), so overlapping slots of one
court can never both be used. Rules, in the order they are checked:

1. SLOT_TOO_SHORT   slot duration >= match duration.
2. COURT_CONFLICT   the slot (or a same-court slot overlapping it) holds no other match.
3. STAGE_ORDER      within an event, stage A precedes stage B iff A.order < B.order (equal
                    orders are concurrent). A match of B may be placed only if every match of
                    every preceding stage is assigned, it starts at or after the latest end of
                    those matches, and it ends at or before the earliest start of any assigned
                    match of a following stage.
4. TEAM_CONFLICT    no team in two matches whose run times intersect.
5. JUDGE_CONFLICT   likewise for judges.
6. REST_VIOLATION   two matches sharing a team (or a judge) are at least
                    `min_rest_minutes` apart: later.start - earlier.end >= rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.scheduling.core.index import ScheduleIndex, fmt_time
from server.scheduling.core.model import Match
from server.scheduling.core.violations import ReasonCode, Violation

Interval = tuple[int, int, int]  # (start, end, match_id)


class Occupancy:
    """What is already placed, indexed by slot, team and judge (mutable, grows only)."""

    __slots__ = ("idx", "placed", "times", "slot_users", "team_busy", "judge_busy")

    def __init__(self, idx: ScheduleIndex) -> None:
        self.idx = idx
        self.placed: dict[int, int] = {}  # match_id -> slot_id
        self.times: dict[int, tuple[int, int]] = {}  # match_id -> (start, end)
        # slot_id -> matches occupying that slot or an overlapping slot of the same court
        self.slot_users: dict[int, list[int]] = {}
        self.team_busy: dict[int, list[Interval]] = {}
        self.judge_busy: dict[int, list[Interval]] = {}

    @classmethod
    def from_assignments(
        cls, idx: ScheduleIndex, *, exclude_match_id: int | None = None
    ) -> Occupancy:
        occ = cls(idx)
        for match_id in sorted(idx.assignment_by_match):
            slot_id = idx.assignment_by_match[match_id].slot_id
            if slot_id is not None and match_id != exclude_match_id:
                occ.place(idx.matches[match_id], slot_id)
        return occ

    def place(self, match: Match, slot_id: int) -> None:
        start = self.idx.slot_start[slot_id]
        end = start + match.duration_minutes * 60
        self.placed[match.id] = slot_id
        self.times[match.id] = (start, end)
        for sid in (slot_id, *self.idx.slot_overlaps.get(slot_id, ())):
            self.slot_users.setdefault(sid, []).append(match.id)
        for team_id in match.team_ids:
            self.team_busy.setdefault(team_id, []).append((start, end, match.id))
        for judge_id in match.judge_ids:
            self.judge_busy.setdefault(judge_id, []).append((start, end, match.id))


@dataclass(frozen=True, slots=True)
class StageWindow:
    """Where a stage's matches may run given what is placed in the other stages of its event."""

    stage_id: int
    not_before: int | None  # latest end of a preceding-stage match
    not_after: int | None  # earliest start of a following-stage match
    incomplete_stage_ids: tuple[int, ...]  # preceding stages with unassigned matches


def stage_window(occ: Occupancy, stage_id: int) -> StageWindow:
    idx = occ.idx
    stage = idx.stages[stage_id]
    not_before: int | None = None
    not_after: int | None = None
    incomplete: list[int] = []
    for other in idx.event_stages[stage.event_id]:
        if other.order == stage.order:
            continue
        earlier = other.order < stage.order
        for match_id in idx.stage_matches[other.id]:
            times = occ.times.get(match_id)
            if times is None:
                if earlier and (not incomplete or incomplete[-1] != other.id):
                    incomplete.append(other.id)
            elif earlier:
                not_before = times[1] if not_before is None else max(not_before, times[1])
            else:
                not_after = times[0] if not_after is None else min(not_after, times[0])
    return StageWindow(stage_id, not_before, not_after, tuple(incomplete))


def evaluate(
    occ: Occupancy, match: Match, slot_id: int, window: StageWindow, *, collect: bool
) -> list[Violation]:
    """Violations of placing `match` in `slot_id` (which `occ` must not already contain).

    With `collect=False` it stops at the first failing rule (the solver's hot path); with
    `collect=True` it lists every violated rule and every other match involved.
    """
    idx = occ.idx
    out: list[Violation] = []
    slot = idx.slots[slot_id]
    start = idx.slot_start[slot_id]
    end = start + match.duration_minutes * 60
    base = {"match_id": match.id, "slot_id": slot_id, "stage_id": match.stage_id}

    if slot.duration_minutes < match.duration_minutes:
        out.append(
            Violation(
                ReasonCode.SLOT_TOO_SHORT,
                f"match {match.id} needs {match.duration_minutes} min, slot {slot_id} has "
                f"{slot.duration_minutes} min",
                court_id=slot.court_id,
                **base,
            )
        )
        if not collect:
            return out

    for other_id in occ.slot_users.get(slot_id, ()):
        out.append(
            Violation(
                ReasonCode.COURT_CONFLICT,
                f"court {slot.court_id} is already used by match {other_id} during slot {slot_id}",
                related_match_id=other_id,
                related_slot_id=occ.placed[other_id],
                court_id=slot.court_id,
                **base,
            )
        )
        if not collect:
            return out

    out.extend(_stage_order(occ, match, start, end, window, collect, base))
    if out and not collect:
        return out

    rest = idx.rest_s
    for kind in ("team", "judge"):
        code = ReasonCode.TEAM_CONFLICT if kind == "team" else ReasonCode.JUDGE_CONFLICT
        busy = occ.team_busy if kind == "team" else occ.judge_busy
        for person in match.team_ids if kind == "team" else match.judge_ids:
            for o_start, o_end, other_id in busy.get(person, ()):
                if start < o_end and o_start < end:
                    out.append(
                        Violation(
                            code,
                            f"{kind} {person} is in match {other_id} from {fmt_time(o_start)} to "
                            f"{fmt_time(o_end)}, overlapping match {match.id}",
                            related_match_id=other_id,
                            related_slot_id=occ.placed[other_id],
                            team_id=person if kind == "team" else None,
                            judge_id=person if kind == "judge" else None,
                            **base,
                        )
                    )
                    if not collect:
                        return out
    for kind in ("team", "judge"):
        busy = occ.team_busy if kind == "team" else occ.judge_busy
        for person in match.team_ids if kind == "team" else match.judge_ids:
            for o_start, o_end, other_id in busy.get(person, ()):
                overlap = start < o_end and o_start < end
                if not overlap and start < o_end + rest and o_start < end + rest:
                    out.append(
                        Violation(
                            ReasonCode.REST_VIOLATION,
                            f"{kind} {person} gets less than {rest // 60} min rest between "
                            f"matches {other_id} and {match.id}",
                            related_match_id=other_id,
                            related_slot_id=occ.placed[other_id],
                            team_id=person if kind == "team" else None,
                            judge_id=person if kind == "judge" else None,
                            **base,
                        )
                    )
                    if not collect:
                        return out
    return out


def _stage_order(
    occ: Occupancy,
    match: Match,
    start: int,
    end: int,
    window: StageWindow,
    collect: bool,
    base: dict[str, int],
) -> list[Violation]:
    out = [
        Violation(
            ReasonCode.STAGE_ORDER,
            f"match {match.id} cannot run while earlier stage {stage_id} still has unassigned "
            "matches",
            related_stage_id=stage_id,
            **base,
        )
        for stage_id in window.incomplete_stage_ids
    ]
    too_early = window.not_before is not None and start < window.not_before
    too_late = window.not_after is not None and end > window.not_after
    if not collect:
        if out or too_early or too_late:
            return [Violation(ReasonCode.STAGE_ORDER, "stage order", **base)]
        return []
    if not (too_early or too_late):
        return out
    idx = occ.idx
    stage = idx.stages[match.stage_id]
    for other in idx.event_stages[stage.event_id]:
        if other.order == stage.order:
            continue
        for other_id in idx.stage_matches[other.id]:
            times = occ.times.get(other_id)
            if times is None:
                continue
            if other.order < stage.order and times[1] > start:
                text = f"ends at {fmt_time(times[1])}, after match {match.id} starts"
            elif other.order > stage.order and times[0] < end:
                text = f"starts at {fmt_time(times[0])}, before match {match.id} ends"
            else:
                continue
            out.append(
                Violation(
                    ReasonCode.STAGE_ORDER,
                    f"match {other_id} of {'earlier' if other.order < stage.order else 'later'}"
                    f" stage {other.id} {text}",
                    related_match_id=other_id,
                    related_slot_id=occ.placed[other_id],
                    related_stage_id=other.id,
                    **base,
                )
            )
    return out
