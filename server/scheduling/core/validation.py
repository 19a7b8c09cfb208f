"""Input validation: the 422 reasons for bad slots and structurally broken schedule rows.

`validate_slots` is what slot-editing routes call; `validate_input` is the gate every pure
entry point passes through (dangling ids or impossible durations would otherwise surface as
KeyErrors deep inside the solver). Overlapping slots are reported but not fatal: the solver and
the conflict report treat a court as busy for the whole slot, so overlaps cannot double-book.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from server.scheduling.core.model import Court, ScheduleInput, Slot
from server.scheduling.core.violations import ReasonCode, Violation, sort_violations


def _duplicates(kind: str, ids: Iterable[int]) -> list[Violation]:
    counts = Counter(ids)
    return [
        Violation(ReasonCode.DUPLICATE_ID, f"{kind} id {i} appears {n} times")
        for i, n in sorted(counts.items())
        if n > 1
    ]


def overlapping_slot_pairs(slots: Sequence[Slot]) -> list[tuple[Slot, Slot]]:
    """Pairs of positive-length slots in the same court whose time windows intersect."""
    by_court: dict[int, list[Slot]] = defaultdict(list)
    for slot in slots:
        if slot.duration_minutes > 0:
            by_court[slot.court_id].append(slot)
    pairs: list[tuple[Slot, Slot]] = []
    for court_id in sorted(by_court):
        ordered = sorted(by_court[court_id], key=lambda s: (s.start, s.id))
        for i, first in enumerate(ordered):
            first_end = first.end
            for second in ordered[i + 1 :]:
                if second.start >= first_end:
                    break  # sorted by start: nothing later can reach back into `first`
                pairs.append((first, second))
    return pairs


def validate_slots(slots: Sequence[Slot], courts: Sequence[Court]) -> list[Violation]:
    """Duplicate ids, unknown courts, non-positive durations, naive starts, same-court overlaps."""
    court_ids = {c.id for c in courts}
    out = _duplicates("slot", (s.id for s in slots))
    for slot in slots:
        if slot.court_id not in court_ids:
            out.append(
                Violation(
                    ReasonCode.UNKNOWN_REFERENCE,
                    f"slot {slot.id} references unknown court {slot.court_id}",
                    slot_id=slot.id,
                    court_id=slot.court_id,
                )
            )
        if slot.duration_minutes <= 0:
            out.append(
                Violation(
                    ReasonCode.INVALID_DURATION,
                    f"slot {slot.id} has non-positive duration {slot.duration_minutes} min",
                    slot_id=slot.id,
                    court_id=slot.court_id,
                )
            )
        if slot.start.tzinfo is None or slot.start.utcoffset() is None:
            out.append(
                Violation(
                    ReasonCode.NAIVE_DATETIME,
                    f"slot {slot.id} start {slot.start.isoformat()} has no timezone (need UTC)",
                    slot_id=slot.id,
                    court_id=slot.court_id,
                )
            )
    if not any(v.code is ReasonCode.NAIVE_DATETIME for v in out):  # naive vs aware can't compare
        for first, second in overlapping_slot_pairs(slots):
            out.append(
                Violation(
                    ReasonCode.SLOT_OVERLAP,
                    f"slots {first.id} and {second.id} overlap in court {first.court_id}",
                    slot_id=first.id,
                    related_slot_id=second.id,
                    court_id=first.court_id,
                )
            )
    return sort_violations(out)


def _ref(kind: str, owner: str, ref_id: int, **ids: int) -> Violation:
    return Violation(
        ReasonCode.UNKNOWN_REFERENCE, f"{owner} references unknown {kind} {ref_id}", **ids
    )


def validate_input(inp: ScheduleInput) -> list[Violation]:
    """Fatal structural problems (everything except slot overlaps, which are reportable)."""
    out: list[Violation] = []
    if inp.version.tournament_id != inp.tournament.id:
        out.append(
            Violation(
                ReasonCode.VERSION_MISMATCH,
                f"version {inp.version.id} belongs to tournament {inp.version.tournament_id}, "
                f"not {inp.tournament.id}",
            )
        )
    if inp.tournament.min_rest_minutes < 0:
        out.append(Violation(ReasonCode.INVALID_DURATION, "min_rest_minutes must be >= 0"))
    for kind, ids in (
        ("event", [e.id for e in inp.events]),
        ("stage", [s.id for s in inp.stages]),
        ("team", [t.id for t in inp.teams]),
        ("judge", [j.id for j in inp.judges]),
        ("court", [c.id for c in inp.courts]),
        ("match", [m.id for m in inp.matches]),
        ("assignment", [a.id for a in inp.assignments]),
    ):
        out.extend(_duplicates(kind, ids))
    out.extend(
        v for v in validate_slots(inp.slots, inp.courts) if v.code is not ReasonCode.SLOT_OVERLAP
    )

    events = {e.id for e in inp.events}
    stages = {s.id: s for s in inp.stages}
    teams = {t.id for t in inp.teams}
    judges = {j.id for j in inp.judges}
    for stage in inp.stages:
        if stage.event_id not in events:
            out.append(_ref("event", f"stage {stage.id}", stage.event_id, stage_id=stage.id))
    for m in inp.matches:
        owner = f"match {m.id}"
        if m.event_id not in events:
            out.append(_ref("event", owner, m.event_id, match_id=m.id))
        match_stage = stages.get(m.stage_id)
        if match_stage is None:
            out.append(_ref("stage", owner, m.stage_id, match_id=m.id))
        elif match_stage.event_id != m.event_id:
            out.append(
                Violation(
                    ReasonCode.INVALID_MATCH,
                    f"{owner} is in event {m.event_id} but its stage {match_stage.id} is in "
                    f"event {match_stage.event_id}",
                    match_id=m.id,
                    stage_id=match_stage.id,
                )
            )
        for team_id in sorted(set(m.team_ids) - teams):
            out.append(_ref("team", owner, team_id, match_id=m.id, team_id=team_id))
        if m.petitioner_team_id == m.respondent_team_id:
            out.append(
                Violation(
                    ReasonCode.INVALID_MATCH,
                    f"{owner} has team {m.petitioner_team_id} on both sides",
                    match_id=m.id,
                    team_id=m.petitioner_team_id,
                )
            )
        for judge_id in sorted(set(m.judge_ids) - judges):
            out.append(_ref("judge", owner, judge_id, match_id=m.id, judge_id=judge_id))
        if len(set(m.judge_ids)) != len(m.judge_ids):
            out.append(
                Violation(ReasonCode.INVALID_MATCH, f"{owner} lists a judge twice", match_id=m.id)
            )
        if m.duration_minutes <= 0:
            out.append(
                Violation(
                    ReasonCode.INVALID_DURATION,
                    f"{owner} has non-positive duration {m.duration_minutes} min",
                    match_id=m.id,
                )
            )

    match_ids = {m.id for m in inp.matches}
    slot_ids = {s.id for s in inp.slots}
    per_match = Counter(a.match_id for a in inp.assignments)
    for a in inp.assignments:
        owner = f"assignment {a.id}"
        if a.version_id != inp.version.id:
            out.append(
                Violation(
                    ReasonCode.VERSION_MISMATCH,
                    f"{owner} belongs to version {a.version_id}, not {inp.version.id}",
                    assignment_id=a.id,
                )
            )
        if a.match_id not in match_ids:
            out.append(_ref("match", owner, a.match_id, assignment_id=a.id, match_id=a.match_id))
        if a.slot_id is not None and a.slot_id not in slot_ids:
            out.append(_ref("slot", owner, a.slot_id, assignment_id=a.id, slot_id=a.slot_id))
    for match_id, n in sorted(per_match.items()):
        if n > 1:
            out.append(
                Violation(
                    ReasonCode.DUPLICATE_ASSIGNMENT,
                    f"match {match_id} has {n} assignments in version {inp.version.id}",
                    match_id=match_id,
                )
            )
    return sort_violations(out)
