"""Pure scheduling core: model, auto-assign, manual moves, conflict report, versions.

No database, HTTP or clock: callers load rows into the dataclasses of `model`, call these
functions and persist what comes back. Every error is a `ScheduleError` carrying its HTTP
status.
"""

from __future__ import annotations

from server.scheduling.core.conflicts import ConflictReportBuilder
from server.scheduling.core.diagnose import Diagnosis
from server.scheduling.core.errors import (
    FinalizeBlocked,
    InvalidScheduleInput,
    ManualAssignmentValidationError,
    NotFound,
    ScheduleError,
    VersionFinalized,
)
from server.scheduling.core.manual import (
    ManualAssignmentResponse,
    SlotKeyV1,
    apply_manual_move,
    build_manual_response,
    validate_manual_move,
)
from server.scheduling.core.model import (
    AssignedBy,
    Assignment,
    Court,
    Event,
    Judge,
    Match,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    VersionStatus,
    provisional_assignment_id,
)
from server.scheduling.core.report import (
    ConflictReportV1,
    CourtPressureV1,
    DayPressureV1,
    OrderingIntegrityV1,
    SlotFailureV1,
    SlotPressureV1,
    StageTimelineV1,
    SummaryV1,
    UnassignedMatchV1,
    ViolationV1,
)
from server.scheduling.core.solver import AutoAssignResult, auto_assign
from server.scheduling.core.validation import validate_input, validate_slots
from server.scheduling.core.versions import (
    clone_version,
    ensure_draft,
    finalize,
    finalize_check,
    publicly_visible,
)
from server.scheduling.core.violations import ReasonCode, Violation

__all__ = [
    "AssignedBy",
    "Assignment",
    "AutoAssignResult",
    "ConflictReportBuilder",
    "ConflictReportV1",
    "Court",
    "CourtPressureV1",
    "DayPressureV1",
    "Diagnosis",
    "Event",
    "FinalizeBlocked",
    "InvalidScheduleInput",
    "Judge",
    "ManualAssignmentResponse",
    "ManualAssignmentValidationError",
    "Match",
    "NotFound",
    "OrderingIntegrityV1",
    "ReasonCode",
    "ScheduleError",
    "ScheduleInput",
    "ScheduleVersion",
    "Slot",
    "SlotFailureV1",
    "SlotKeyV1",
    "SlotPressureV1",
    "Stage",
    "StageTimelineV1",
    "SummaryV1",
    "Team",
    "Tournament",
    "UnassignedMatchV1",
    "VersionFinalized",
    "VersionStatus",
    "Violation",
    "ViolationV1",
    "apply_manual_move",
    "auto_assign",
    "build_manual_response",
    "clone_version",
    "ensure_draft",
    "finalize",
    "finalize_check",
    "provisional_assignment_id",
    "publicly_visible",
    "validate_input",
    "validate_manual_move",
    "validate_slots",
]
