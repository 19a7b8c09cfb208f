"""The typed shapes of every HTTP response, and of the errors (``{detail, code}``).

These are the OpenAPI document's response schemas: generated clients and
schemathesis's response checks read them. Times are the store's ISO-8601 UTC
strings; ids of live sessions, rounds and turns are UUIDs, scheduling ids are
positive integers. A session's ``state`` is the rules' snapshot
(docs/protocol.md, "session state"), an object with its own versioned shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from protocol import ErrorCode
from server.scheduling.core.manual import ManualAssignmentResponse
from server.scheduling.core.report import ConflictReportV1

__all__ = [
    "ERRORS",
    "ManualAssignmentResponse",
    "ConflictReportV1",
]

SessionStatus = Literal["pending", "active", "paused", "completed"]


# --- errors -------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every refusal: a human-readable ``detail`` and a machine-readable ``code``."""

    detail: str
    code: ErrorCode


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: the request's fields that failed validation (``detail`` is a list), or a domain
    rule the input breaks (``detail`` is a sentence; scheduling adds its reasons)."""

    detail: list[FieldProblem] | str
    code: ErrorCode
    schedule_code: str | None = None
    violations: list[dict[str, Any]] | None = None


def _err(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {"model": model, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("Malformed request (a body that is not JSON, for instance)"),
    401: _err("Not signed in, or the token is invalid or expired"),
    403: _err("The role may not do this, or the feature is disabled"),
    404: _err("No such resource"),
    409: _err("Not allowed in the current state"),
    422: _err("Invalid input", ValidationErrorBody),
    503: _err("A dependency (database, broker) is unavailable; retry later"),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: ERRORS[c] for c in codes}


# --- auth ---------------------------------------------------------------------------------


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user_id: int
    role: str


class Me(BaseModel):
    user_id: int
    username: str
    role: str
    name: str


# --- health -------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


# --- sessions -------------------------------------------------------------------------------


class SessionSummary(BaseModel):
    id: str
    assignment_id: str | None
    status: SessionStatus
    title: str
    started_at: str | None
    created_at: str
    head_seq: int


class SessionList(BaseModel):
    sessions: list[SessionSummary]
    count: int


class Head(BaseModel):
    sequence_number: int
    hash: str


class CheckpointOut(BaseModel):
    session_id: str
    tree_size: int
    root_hash: str
    chain_head: str
    time: str
    key_id: str
    reason: str | None = None
    note: str = Field(description="the signed note, exactly as signed (docs/protocol.md §4)")


class SessionDetail(BaseModel):
    id: str
    assignment_id: str | None
    status: SessionStatus
    title: str
    started_at: str | None
    ended_at: str | None
    recording_url: str | None
    metadata: dict[str, Any] | None
    integrity_hash: str | None
    created_at: str
    created_by: str | None
    head: Head
    state: dict[str, Any] = Field(description="The rules' snapshot of the session")
    final_checkpoint: CheckpointOut | None = Field(
        default=None,
        description="A completed session's final signed checkpoint (at its SESSION_COMPLETED"
        " entry), once signed: with integrity_hash, its integrity record (docs/protocol.md §4)",
    )


class CommandResult(BaseModel):
    session_id: str
    status: SessionStatus
    sequence_number: int
    entries: list[int]
    result: dict[str, Any] | None = None


class Participation(BaseModel):
    id: str
    session_id: str
    user_id: int
    role: str
    speaker: int | None
    status: str
    joined_at: str
    left_at: str | None
    connection_count: int
    client_info: dict[str, Any] | None
    created_at: str


class ObserverCounts(BaseModel):
    total: int
    current: int


class Participants(BaseModel):
    session_id: str
    participants: list[Participation]
    observers: ObserverCounts


class LogEntry(BaseModel):
    session_id: str
    sequence_number: int
    timestamp: str
    event_type: str
    actor_id: str | None
    details: dict[str, Any]
    previous_hash: str
    hash: str


class LogPage(BaseModel):
    session_id: str
    from_sequence: int
    count: int
    head_sequence: int
    entries: list[LogEntry]


class Replay(BaseModel):
    session_id: str
    from_sequence: int
    count: int
    head: Head
    entries: list[LogEntry]


class Verification(BaseModel):
    valid: bool
    entries: int
    head_hash: str
    first_invalid_sequence: int | None


# --- rounds ---------------------------------------------------------------------------------


class TurnView(BaseModel):
    id: str
    participant_id: str
    side: str
    speaker: int
    kind: str
    turn_order: int
    allowed_seconds: int
    status: str
    started_at: str | None
    submitted_at: str | None
    is_submitted: bool
    is_late: bool
    word_count: int | None


class RoundView(BaseModel):
    id: str
    session_id: str
    round_index: int
    round_type: str
    format: str
    status: str
    current_speaker_participant_id: str | None
    current_turn_id: str | None
    started_at: str | None
    ended_at: str | None
    abort_reason: str | None
    turns: list[TurnView]


class AbortedRound(RoundView):
    success: bool


class SessionRounds(BaseModel):
    session_id: str
    rounds: list[RoundView]


class FormatList(BaseModel):
    formats: list[dict[str, Any]] = Field(description="The preset round formats")


class RoundStarted(BaseModel):
    success: bool
    round_id: str
    status: str
    current_turn_id: str | None
    current_speaker_participant_id: str | None


class TurnStarted(BaseModel):
    turn_id: str
    started_at: str
    allowed_seconds: int
    remaining_seconds: int
    deadline_ms: int
    server_time_ms: int


class TurnSubmitted(BaseModel):
    success: bool
    turn_id: str
    submitted_at: str | None = None
    late: bool | None = None
    next_current_speaker_participant_id: str | None = None
    next_turn_id: str | None = None
    round_status: str | None = None


class AuditRow(BaseModel):
    id: int
    action: str
    actor_user_id: str | None
    payload: Any
    sequence_number: int
    created_at: str


class TurnAudit(BaseModel):
    turn_id: str
    audit: list[AuditRow]
