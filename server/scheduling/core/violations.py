"""Machine-readable reason codes and the `Violation` record shared by every checker.

One vocabulary serves the solver (why a match stayed unassigned), manual moves (why a move is
refused), the conflict report (every unmet constraint) and input validation (422 reasons).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReasonCode(enum.StrEnum):
    # Why an unassigned match could not be placed (aggregated over all slots).
    NO_SLOT_LONG_ENOUGH = "NO_SLOT_LONG_ENOUGH"
    NO_FREE_SLOT = "NO_FREE_SLOT"
    LOCKED_UNASSIGNED = "LOCKED_UNASSIGNED"
    NOT_YET_ASSIGNED = "NOT_YET_ASSIGNED"
    # Placement constraints: reasons for unassigned matches and violations of placed ones.
    SLOT_TOO_SHORT = "SLOT_TOO_SHORT"
    COURT_CONFLICT = "COURT_CONFLICT"
    STAGE_ORDER = "STAGE_ORDER"
    TEAM_CONFLICT = "TEAM_CONFLICT"
    JUDGE_CONFLICT = "JUDGE_CONFLICT"
    REST_VIOLATION = "REST_VIOLATION"
    # Finalization.
    UNASSIGNED_MATCH = "UNASSIGNED_MATCH"
    # Input / slot validation (the 422s of bad input).
    SLOT_OVERLAP = "SLOT_OVERLAP"
    INVALID_DURATION = "INVALID_DURATION"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"
    DUPLICATE_ID = "DUPLICATE_ID"
    DUPLICATE_ASSIGNMENT = "DUPLICATE_ASSIGNMENT"
    INVALID_MATCH = "INVALID_MATCH"
    VERSION_MISMATCH = "VERSION_MISMATCH"


# Order in which a single (match, slot) placement is checked. The diagnosis of an unassigned
# match reports the check that the best slot got furthest to, so a later rank is more specific.
PIPELINE: tuple[ReasonCode, ...] = (
    ReasonCode.SLOT_TOO_SHORT,
    ReasonCode.COURT_CONFLICT,
    ReasonCode.STAGE_ORDER,
    ReasonCode.TEAM_CONFLICT,
    ReasonCode.JUDGE_CONFLICT,
    ReasonCode.REST_VIOLATION,
)
PIPELINE_RANK: dict[ReasonCode, int] = {code: rank for rank, code in enumerate(PIPELINE)}
_CODE_RANK: dict[ReasonCode, int] = {code: rank for rank, code in enumerate(ReasonCode)}


@dataclass(frozen=True, slots=True)
class Violation:
    """One unmet constraint. Pair constraints name both matches (`match_id`, `related_match_id`)."""

    code: ReasonCode
    message: str
    match_id: int | None = None
    related_match_id: int | None = None
    assignment_id: int | None = None
    slot_id: int | None = None
    related_slot_id: int | None = None
    court_id: int | None = None
    team_id: int | None = None
    judge_id: int | None = None
    stage_id: int | None = None
    related_stage_id: int | None = None

    def sort_key(self) -> tuple[int, ...]:
        """Total, explicit order: code, then every id (None first); ties broken by message."""

        def n(value: int | None) -> int:
            return -(2**62) if value is None else value

        return (
            _CODE_RANK[self.code],
            n(self.match_id),
            n(self.related_match_id),
            n(self.team_id),
            n(self.judge_id),
            n(self.slot_id),
            n(self.related_slot_id),
            n(self.court_id),
            n(self.stage_id),
            n(self.related_stage_id),
            n(self.assignment_id),
        )

    def involves_match(self, match_ids: frozenset[int]) -> bool:
        return self.match_id in match_ids or self.related_match_id in match_ids


def sort_violations(violations: list[Violation]) -> list[Violation]:
    """Deduplicated, in a total order (message breaks ties, so equal keys cannot swap)."""
    return sorted(set(violations), key=lambda v: (v.sort_key(), v.message))
