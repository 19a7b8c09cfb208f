"""Between the store's rows, the pure scheduling core and HTTP.

* rows -> the core's frozen dataclasses (`to_input`), and the wire shapes of rows;
* the one mapping of `ScheduleError` onto the courtroom's error hierarchy (`core_errors`):
  404s become `protocol.errors.NotFound`, 422s become `ScheduleRejected` (a
  `ValidationFailed` that carries the core's machine-readable violations), whose HTTP handler
  (`schedule_rejected_handler`) adds ``schedule_code`` and ``violations`` to the usual body.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from protocol.errors import CourtroomError, NotFound, ValidationFailed
from server.scheduling.core import (
    Assignment,
    Court,
    Event,
    Judge,
    Match,
    NotFound as ScheduleNotFound,
    ScheduleError,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
    VersionStatus,
    Violation,
)
from store import ScheduleRows

Row = dict[str, Any]

# --- errors ------------------------------------------------------------------


def violation_json(v: Violation) -> Row:
    out: Row = {"code": v.code.value, "message": v.message}
    for f in dataclasses.fields(v):
        if f.name not in ("code", "message"):
            value = getattr(v, f.name)
            if value is not None:
                out[f.name] = value
    return out


class ScheduleRejected(ValidationFailed):
    """A 422 from scheduling, with the reasons (`violations`) in machine-readable form."""

    def __init__(self, message: str, schedule_code: str, violations: Sequence[Row] = ()) -> None:
        super().__init__(message)
        self.schedule_code = schedule_code
        self.violations = list(violations)


def translate(exc: ScheduleError) -> CourtroomError:
    if isinstance(exc, ScheduleNotFound) or exc.status_code == 404:
        return NotFound(exc.message)
    violations = getattr(exc, "violations", ())
    return ScheduleRejected(exc.message, exc.code, [violation_json(v) for v in violations])


@contextmanager
def core_errors() -> Iterator[None]:
    """Run pure-core code; its errors leave as courtroom errors (mapped here, once)."""
    try:
        yield
    except ScheduleError as exc:
        raise translate(exc) from exc


async def schedule_rejected_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScheduleRejected)
    return JSONResponse(
        {
            "detail": exc.message,
            "code": str(exc.code),
            "schedule_code": exc.schedule_code,
            "violations": exc.violations,
        },
        status_code=exc.http_status,
    )


# --- time ----------------------------------------------------------------------


def utc_iso(dt: datetime) -> str:
    """The stored (and wire) form of a slot start: ``2026-03-02T09:00:00Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- rows -> core ----------------------------------------------------------------


def tournament_of(row: Row) -> Tournament:
    return Tournament(
        id=row["id"],
        name=row["name"],
        public_schedule=bool(row["public_schedule"]),
        min_rest_minutes=row["min_rest_minutes"],
    )


def version_of(row: Row) -> ScheduleVersion:
    return ScheduleVersion(
        id=row["id"],
        tournament_id=row["tournament_id"],
        number=row["number"],
        status=VersionStatus(row["status"]),
        parent_version_id=row["parent_version_id"],
    )


def slot_of(row: Row) -> Slot:
    return Slot(
        id=row["id"],
        court_id=row["court_id"],
        day_date=date.fromisoformat(row["day_date"]),
        start=parse_utc(row["start_at"]),
        duration_minutes=row["duration_minutes"],
    )


def court_of(row: Row) -> Court:
    return Court(row["id"], row["label"], row["number"], row["capacity"])


def match_of(row: Row) -> Match:
    return Match(
        id=row["id"],
        event_id=row["event_id"],
        stage_id=row["stage_id"],
        petitioner_team_id=row["petitioner_team_id"],
        respondent_team_id=row["respondent_team_id"],
        judge_ids=tuple(row["judge_ids"]),
        duration_minutes=row["duration_minutes"],
    )


def assignment_of(row: Row) -> Assignment:
    return Assignment(
        id=row["id"],
        version_id=row["schedule_version_id"],
        match_id=row["match_id"],
        slot_id=row["slot_id"],
        locked=bool(row["locked"]),
        assigned_by=row["assigned_by"],
        reason=row["reason"],
        reason_code=row["reason_code"],
    )


def to_input(rows: ScheduleRows) -> ScheduleInput:
    return ScheduleInput(
        tournament=tournament_of(rows.tournament),
        version=version_of(rows.version),
        events=tuple(Event(r["id"], r["name"]) for r in rows.events),
        stages=tuple(
            Stage(r["id"], r["event_id"], r["name"], r["stage_order"]) for r in rows.stages
        ),
        teams=tuple(Team(r["id"], r["name"], r["institution"]) for r in rows.teams),
        judges=tuple(Judge(r["id"], r["name"]) for r in rows.judges),
        courts=tuple(court_of(r) for r in rows.courts),
        slots=tuple(slot_of(r) for r in rows.slots),
        matches=tuple(match_of(r) for r in rows.matches),
        assignments=tuple(assignment_of(r) for r in rows.assignments),
    )


def assignment_row(a: Assignment, assigned_at: str | None) -> Row:
    """A core assignment as the store writes it (negative id = insert)."""
    return {
        "id": a.id,
        "match_id": a.match_id,
        "slot_id": a.slot_id,
        "locked": a.locked,
        "assigned_by": a.assigned_by,
        "reason": a.reason,
        "reason_code": a.reason_code,
        "assigned_at": assigned_at,
    }


# --- rows -> wire ---------------------------------------------------------------------


def tournament_json(row: Row) -> Row:
    return {
        "id": row["id"],
        "name": row["name"],
        "public_schedule": bool(row["public_schedule"]),
        "min_rest_minutes": row["min_rest_minutes"],
        "created_at": row["created_at"],
    }


def stage_json(row: Row) -> Row:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "name": row["name"],
        "order": row["stage_order"],
    }


def slot_json(row: Row) -> Row:
    slot = slot_of(row)
    return {
        "id": row["id"],
        "court_id": row["court_id"],
        "day_date": row["day_date"],
        "start": row["start_at"],
        "end": utc_iso(slot.end),
        "duration_minutes": row["duration_minutes"],
    }


def version_json(row: Row) -> Row:
    return {
        "id": row["id"],
        "tournament_id": row["tournament_id"],
        "number": row["number"],
        "status": row["status"],
        "parent_version_id": row["parent_version_id"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "finalized_at": row["finalized_at"],
    }


def assignment_json(row: Row) -> Row:
    return {
        "id": row["id"],
        "schedule_version_id": row["schedule_version_id"],
        "match_id": row["match_id"],
        "slot_id": row["slot_id"],
        "locked": bool(row["locked"]),
        "assigned_by": row["assigned_by"],
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "assigned_at": row["assigned_at"],
    }


def plain(row: Row, *drop: str) -> Row:
    return {k: v for k, v in row.items() if k not in drop}
