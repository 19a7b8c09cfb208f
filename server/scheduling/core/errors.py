"""Typed scheduling errors; each carries the HTTP status the route layer should answer with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.scheduling.core.violations import Violation


class ScheduleError(Exception):
    """Base of every scheduling error; routes map `status_code` and `code` to the response."""

    status_code: int = 500
    code: str = "SCHEDULE_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ScheduleError):
    """An id (assignment, slot, event, ...) does not exist in the loaded schedule version."""

    status_code = 404
    code = "NOT_FOUND"

    def __init__(self, entity: str, entity_id: int) -> None:
        super().__init__(f"{entity} {entity_id} not found")
        self.entity = entity
        self.entity_id = entity_id


class VersionFinalized(ScheduleError):
    """Finalized versions are read-only history; clone to a draft to edit."""

    status_code = 422
    code = "VERSION_FINALIZED"

    def __init__(self, version_id: int) -> None:
        super().__init__(
            f"schedule version {version_id} is finalized and read-only; clone it to a draft to edit"
        )
        self.version_id = version_id


class _ViolationsError(ScheduleError):
    status_code = 422

    def __init__(self, message: str, violations: Iterable[Violation]) -> None:
        super().__init__(message)
        self.violations: tuple[Violation, ...] = tuple(violations)


class ManualAssignmentValidationError(_ViolationsError):
    """A manual move would break at least one constraint; `violations` says which."""

    code = "MANUAL_ASSIGNMENT_INVALID"


class InvalidScheduleInput(_ViolationsError):
    """The loaded rows are structurally inconsistent (dangling ids, duplicates, bad durations)."""

    code = "INVALID_SCHEDULE_INPUT"


class FinalizeBlocked(_ViolationsError):
    """The version still has violations (or unassigned matches) and cannot be finalized."""

    code = "FINALIZE_BLOCKED"
