"""Validated lookup tables over a `ScheduleInput`, with all times as integer UTC seconds.

Built once per public call; integer seconds keep the hot loops cheap and make comparisons
independent of how a datetime's timezone happens to be spelled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from server.scheduling.core.errors import InvalidScheduleInput
from server.scheduling.core.model import Assignment, Court, Event, Match, ScheduleInput, Slot, Stage
from server.scheduling.core.validation import overlapping_slot_pairs, validate_input


def to_seconds(dt: datetime) -> int:
    return int(dt.timestamp())


def from_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def fmt_time(seconds: int) -> str:
    """ISO-8601 UTC with a `Z`, for messages."""
    return from_seconds(seconds).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ScheduleIndex:
    inp: ScheduleInput
    rest_s: int
    events: dict[int, Event]
    stages: dict[int, Stage]
    courts: dict[int, Court]
    slots: dict[int, Slot]
    matches: dict[int, Match]
    slot_start: dict[int, int]
    slot_end: dict[int, int]
    # Same-court slots overlapping each slot (empty for valid input).
    slot_overlaps: dict[int, tuple[int, ...]]
    # Solver preference: earliest start, then lowest court number (Tabbycat-style priority).
    slots_sorted: tuple[Slot, ...]
    assignment_by_match: dict[int, Assignment]
    assignment_by_id: dict[int, Assignment]
    # Stages of each event sorted by (order, id); match ids of each stage sorted.
    event_stages: dict[int, tuple[Stage, ...]]
    stage_matches: dict[int, tuple[int, ...]]

    def duration_s(self, match_id: int) -> int:
        return self.matches[match_id].duration_minutes * 60


def build_index(inp: ScheduleInput) -> ScheduleIndex:
    """Raise `InvalidScheduleInput` (422) if the rows are structurally broken."""
    problems = validate_input(inp)
    if problems:
        raise InvalidScheduleInput(
            f"schedule version {inp.version.id} has {len(problems)} structural problem(s)",
            problems,
        )
    overlaps: dict[int, list[int]] = defaultdict(list)
    for first, second in overlapping_slot_pairs(inp.slots):
        overlaps[first.id].append(second.id)
        overlaps[second.id].append(first.id)
    stage_matches: dict[int, list[int]] = defaultdict(list)
    for m in inp.matches:
        stage_matches[m.stage_id].append(m.id)
    event_stages: dict[int, list[Stage]] = defaultdict(list)
    for stage in inp.stages:
        event_stages[stage.event_id].append(stage)

    courts = {c.id: c for c in inp.courts}
    slot_start = {s.id: to_seconds(s.start) for s in inp.slots}
    index = ScheduleIndex(
        inp=inp,
        rest_s=inp.tournament.min_rest_minutes * 60,
        events={e.id: e for e in inp.events},
        stages={s.id: s for s in inp.stages},
        courts=courts,
        slots={s.id: s for s in inp.slots},
        matches={m.id: m for m in inp.matches},
        slot_start=slot_start,
        slot_end={s.id: slot_start[s.id] + s.duration_minutes * 60 for s in inp.slots},
        slot_overlaps={sid: tuple(sorted(ids)) for sid, ids in overlaps.items()},
        slots_sorted=tuple(
            sorted(
                inp.slots,
                key=lambda s: (slot_start[s.id], courts[s.court_id].number, s.court_id, s.id),
            )
        ),
        assignment_by_match={a.match_id: a for a in inp.assignments},
        assignment_by_id={a.id: a for a in inp.assignments},
        event_stages={
            e.id: tuple(sorted(event_stages.get(e.id, []), key=lambda s: (s.order, s.id)))
            for e in inp.events
        },
        stage_matches={s.id: tuple(sorted(stage_matches.get(s.id, []))) for s in inp.stages},
    )
    return index
