"""Version lifecycle as pure functions: clone (the undo model) and finalize (read-only).

Clone copies every assignment of the source, locked or not, the way Tabbycat copies a draw:
the new draft starts as an exact copy, and because locked rows stay locked, re-running
auto-assign on the clone moves only the unlocked ones. Any version, finalized or not, can be
cloned. Finalizing requires a conflict-free schedule by default.
"""

from __future__ import annotations

from dataclasses import replace

from server.scheduling.core.conflicts import analyse_schedule
from server.scheduling.core.errors import FinalizeBlocked, VersionFinalized
from server.scheduling.core.index import build_index
from server.scheduling.core.model import (
    Assignment,
    ScheduleInput,
    ScheduleVersion,
    Tournament,
    VersionStatus,
    provisional_assignment_id,
)
from server.scheduling.core.violations import ReasonCode, Violation, sort_violations


def clone_version(
    inp: ScheduleInput, new_version_id: int, new_number: int
) -> tuple[ScheduleVersion, list[Assignment]]:
    """A new DRAFT whose parent is `inp.version`, and copies of all its assignments (sorted by
    match id, provisional ids; slot, lock, origin and reason preserved)."""
    build_index(inp)  # refuse to copy structurally broken rows
    version = ScheduleVersion(
        id=new_version_id,
        tournament_id=inp.version.tournament_id,
        number=new_number,
        status=VersionStatus.DRAFT,
        parent_version_id=inp.version.id,
    )
    rows = [
        replace(a, id=provisional_assignment_id(a.match_id), version_id=new_version_id)
        for a in sorted(inp.assignments, key=lambda a: a.match_id)
    ]
    return version, rows


def finalize_check(inp: ScheduleInput, *, allow_unassigned: bool = False) -> list[Violation]:
    """What blocks finalizing: every violation of the conflict report, plus one
    UNASSIGNED_MATCH per unassigned match unless `allow_unassigned`."""
    analysis = analyse_schedule(inp)
    found = list(analysis.violations)
    if not allow_unassigned:
        found.extend(
            Violation(
                ReasonCode.UNASSIGNED_MATCH,
                f"match {d.match_id} is unassigned ({d.reason_code.value}): {d.reason}",
                match_id=d.match_id,
            )
            for d in analysis.unassigned
        )
    return sort_violations(found)


def finalize(inp: ScheduleInput, *, allow_unassigned: bool = False) -> ScheduleVersion:
    """The finalized version. Raises `VersionFinalized` if it already is, `FinalizeBlocked`
    (422, with the blocking violations) if `finalize_check` finds anything."""
    if inp.version.is_finalized:
        raise VersionFinalized(inp.version.id)
    blocking = finalize_check(inp, allow_unassigned=allow_unassigned)
    if blocking:
        raise FinalizeBlocked(
            f"schedule version {inp.version.id} has {len(blocking)} blocking issue(s)", blocking
        )
    return replace(inp.version, status=VersionStatus.FINALIZED)


def ensure_draft(version: ScheduleVersion) -> None:
    """Guard for every mutation (auto-assign, manual move, slot edits): 422 if finalized."""
    if version.is_finalized:
        raise VersionFinalized(version.id)


def publicly_visible(tournament: Tournament, version: ScheduleVersion) -> bool:
    """Anonymous readers see a version only once it is finalized and the tournament opts in."""
    return tournament.public_schedule and version.is_finalized
