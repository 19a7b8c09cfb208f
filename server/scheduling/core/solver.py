"""Deterministic greedy auto-assign: each match gets the earliest valid slot.

Locked assignments are facts: they keep their slot (or their lack of one) and occupy it before
anything else is placed. All other matches are re-placed from scratch, one stage at a time in
the order (stage.order, event_id, stage_id) and, within a stage, by match id. For each match the
free slots are scanned from the stage's earliest allowed start, in (start, court number, court
id, slot id) order, and the first slot passing every rule of `constraints` wins. Everything is
sorted explicitly, so identical inputs give identical results. Matches left over are explained
by `diagnose` against the final schedule, exactly as the conflict report explains them.

Cost: O(matches x scanned slots x matches per team/judge); scanning starts at the stage window
via bisect and skips taken slots, so a typical match inspects a handful of slots.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import groupby

from server.scheduling.core.constraints import Occupancy, StageWindow, evaluate, stage_window
from server.scheduling.core.diagnose import Diagnosis, diagnose
from server.scheduling.core.errors import VersionFinalized
from server.scheduling.core.index import ScheduleIndex, build_index
from server.scheduling.core.model import Assignment, Match, ScheduleInput, provisional_assignment_id


@dataclass(frozen=True, slots=True)
class AutoAssignResult:
    """One assignment per match (sorted by match id; new rows carry provisional negative ids),
    plus the diagnosis of every match left without a slot (sorted by match id)."""

    version_id: int
    assignments: tuple[Assignment, ...]
    unassigned: tuple[Diagnosis, ...]
    placed_count: int
    locked_count: int

    def apply_to(self, inp: ScheduleInput) -> ScheduleInput:
        return inp.with_assignments(self.assignments)


def auto_assign(inp: ScheduleInput) -> AutoAssignResult:
    """Raises `VersionFinalized` (422) on a finalized version, `InvalidScheduleInput` (422) on
    structurally broken input."""
    if inp.version.is_finalized:
        raise VersionFinalized(inp.version.id)
    idx = build_index(inp)
    locked = {a.match_id: a for a in inp.assignments if a.locked}
    occ = Occupancy(idx)
    for match_id in sorted(locked):
        slot_id = locked[match_id].slot_id
        if slot_id is not None:
            occ.place(idx.matches[match_id], slot_id)

    free = _FreeSlots(idx)
    for slot_id in occ.slot_users:
        free.take(slot_id)
    windows: dict[int, StageWindow] = {}
    pending = sorted(
        (m for m in inp.matches if m.id not in locked),
        key=lambda m: (idx.stages[m.stage_id].order, m.event_id, m.stage_id, m.id),
    )
    placed = 0
    for stage_id, group in groupby(pending, key=lambda m: m.stage_id):
        # Every preceding stage is final by now, so the window holds for the whole stage.
        window = stage_window(occ, stage_id)
        windows[stage_id] = window
        if window.incomplete_stage_ids:
            continue
        for match in group:
            slot_id = _first_fit(occ, free, match, window)
            if slot_id is not None:
                occ.place(match, slot_id)
                free.take(slot_id)
                for other in idx.slot_overlaps.get(slot_id, ()):
                    free.take(other)
                placed += 1

    assignments: list[Assignment] = []
    diagnoses: list[Diagnosis] = []
    for match in sorted(inp.matches, key=lambda m: m.id):
        if match.id in locked:
            assignments.append(locked[match.id])
            if locked[match.id].slot_id is None:
                window = windows.get(match.stage_id) or stage_window(occ, match.stage_id)
                diagnoses.append(diagnose(occ, match, window, locked=True))
            continue
        current = idx.assignment_by_match.get(match.id)
        row_id = current.id if current else provisional_assignment_id(match.id)
        slot_id = occ.placed.get(match.id)
        if slot_id is not None:
            assignments.append(Assignment(row_id, inp.version.id, match.id, slot_id, False, "AUTO"))
            continue
        found = diagnose(occ, match, windows[match.stage_id], locked=False)
        diagnoses.append(found)
        assignments.append(
            Assignment(
                row_id,
                inp.version.id,
                match.id,
                reason=found.reason,
                reason_code=found.reason_code.value,
            )
        )
    return AutoAssignResult(
        inp.version.id, tuple(assignments), tuple(diagnoses), placed, len(locked)
    )


def _first_fit(occ: Occupancy, free: _FreeSlots, match: Match, window: StageWindow) -> int | None:
    idx = occ.idx
    duration = match.duration_minutes * 60
    for pos in free.from_time(window.not_before):
        slot = idx.slots_sorted[pos]
        if window.not_after is not None and idx.slot_start[slot.id] + duration > window.not_after:
            return None  # slots are sorted by start: every later one ends even later
        if not evaluate(occ, match, slot.id, window, collect=False):
            return slot.id
    return None


class _FreeSlots:
    """Positions (into `slots_sorted`) of untaken slots, kept sorted for bisecting by time."""

    def __init__(self, idx: ScheduleIndex) -> None:
        self._idx = idx
        self._starts = [idx.slot_start[s.id] for s in idx.slots_sorted]
        self._position = {s.id: i for i, s in enumerate(idx.slots_sorted)}
        self._free = list(range(len(idx.slots_sorted)))

    def take(self, slot_id: int) -> None:
        pos = self._position[slot_id]
        i = bisect_left(self._free, pos)
        if i < len(self._free) and self._free[i] == pos:
            del self._free[i]

    def from_time(self, not_before: int | None) -> list[int]:
        first = 0 if not_before is None else bisect_left(self._starts, not_before)
        # Snapshot: the caller places at most one match per scan.
        return self._free[bisect_left(self._free, first) :]
