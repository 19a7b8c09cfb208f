"""Round engine routes: ``/api/classroom/...`` (seed 002), over the same rules and log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from server.http.routes import models as m
from server.http.routes.deps import (
    JSON_INT,
    UUID_PATTERN,
    RoundId,
    SessionId,
    Svc,
    TurnId,
    User,
    feature,
    require_roles,
    storable,
)
from server.rules import commands as c
from server.rules.formats import PRESETS, format_to_dict
from server.rules.state import CONTROL_ROLES, SessionState
from store import ms_to_iso

router = APIRouter(
    prefix="/api/classroom",
    tags=["rounds"],
    dependencies=[Depends(feature("moot_operations")), Depends(feature("classroom_round_engine"))],
    responses=m.errors(400, 401, 403, 404, 409, 422, 503),
)
Faculty = Annotated[Any, Depends(require_roles(*sorted(CONTROL_ROLES)))]


class TurnPlanBody(BaseModel):
    participant_id: str = Field(max_length=64)
    allowed_seconds: Annotated[int, Field(ge=1, le=86_400), JSON_INT]


class CreateRoundBody(BaseModel):
    session_id: str = Field(pattern=UUID_PATTERN)
    round_index: Annotated[int, Field(ge=1, le=10_000), JSON_INT] | None = None
    round_type: str = "PETITIONER_MAIN"
    default_turn_seconds: Annotated[int, Field(ge=1, le=86_400), JSON_INT] | None = None
    turns: list[TurnPlanBody] | None = None
    format: str | None = Field(default=None, max_length=64)
    format_spec: dict[str, Any] | None = None


class AbortBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class SubmitBody(BaseModel):
    turn_id: str | None = None
    transcript: str = Field(max_length=50_000)
    word_count: Annotated[int, Field(ge=0, le=10_000_000), JSON_INT] | None = None


class ForceSubmitBody(SubmitBody):
    reason: str = Field(min_length=1, max_length=500)


def _turn_view(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": t["id"],
        "participant_id": t["participant_id"],
        "side": t["side"],
        "speaker": t["speaker"],
        "kind": t["kind"],
        "turn_order": t["turn_order"],
        "allowed_seconds": t["allowed_seconds"],
        "status": t["status"],
        "started_at": t["started_at"],
        "submitted_at": t["submitted_at"],
        "is_submitted": bool(t["is_submitted"]),
        "is_late": bool(t["is_late"]),
        "word_count": t["word_count"],
    }


async def _round_view(svc: Svc, round_id: str) -> dict[str, Any]:
    r = await svc.store.round_row(round_id)
    return {
        "id": r["id"],
        "session_id": r["session_id"],
        "round_index": r["round_index"],
        "round_type": r["round_type"],
        "format": r["format"],
        "status": r["status"],
        "current_speaker_participant_id": r["current_speaker_participant_id"],
        "current_turn_id": r["current_turn_id"],
        "started_at": r["started_at"],
        "ended_at": r["ended_at"],
        "abort_reason": r["abort_reason"],
        "turns": [_turn_view(t) for t in r["turns"]],
    }


@router.get("/formats", response_model=m.FormatList)
async def formats(user: User) -> dict[str, Any]:
    return {"formats": [format_to_dict(f) for f in PRESETS.values()]}


@router.post("/rounds", status_code=201, response_model=m.RoundView)
async def create_round(body: CreateRoundBody, svc: Svc, user: Faculty) -> dict[str, Any]:
    storable(body.format_spec, "format_spec")
    round_id = str(uuid.uuid4())
    cmd = c.CreateRound(
        round_id=round_id,
        round_index=body.round_index,
        round_type=body.round_type,
        format_name=body.format,
        format_spec=body.format_spec,
        default_turn_seconds=body.default_turn_seconds,
        turns=None
        if body.turns is None
        else tuple(c.TurnPlan(t.participant_id, t.allowed_seconds) for t in body.turns),
    )
    await svc.courtroom.execute(body.session_id, cmd, user.actor())
    return await _round_view(svc, round_id)


@router.get("/rounds/{round_id}", response_model=m.RoundView)
async def get_round(round_id: RoundId, svc: Svc, user: User) -> dict[str, Any]:
    return await _round_view(svc, round_id)


@router.get("/sessions/{session_id}/rounds", response_model=m.SessionRounds)
async def session_rounds(session_id: SessionId, svc: Svc, user: User) -> dict[str, Any]:
    await svc.store.row(session_id)
    ids = await svc.store.session_round_ids(session_id)
    return {"session_id": session_id, "rounds": [await _round_view(svc, rid) for rid in ids]}


@router.post("/rounds/{round_id}/start", response_model=m.RoundStarted)
async def start_round(round_id: RoundId, svc: Svc, user: Faculty) -> dict[str, Any]:
    sid = await svc.store.round_session(round_id)
    committed = await svc.courtroom.execute(sid, c.StartRound(round_id), user.actor())
    r = SessionState.from_dict(committed.state).rounds[round_id]
    cur = r.current
    return {
        "success": True,
        "round_id": round_id,
        "status": r.status,
        "current_turn_id": r.current_turn_id,
        "current_speaker_participant_id": cur.participant_id if cur else None,
    }


@router.post("/rounds/{round_id}/abort", response_model=m.AbortedRound)
async def abort_round(
    round_id: RoundId, body: AbortBody, svc: Svc, user: Faculty
) -> dict[str, Any]:
    sid = await svc.store.round_session(round_id)
    await svc.courtroom.execute(sid, c.AbortRound(round_id, body.reason), user.actor())
    return {"success": True, **(await _round_view(svc, round_id))}


@router.post("/turns/{turn_id}/start", response_model=m.TurnStarted)
async def start_turn(turn_id: TurnId, svc: Svc, user: User) -> dict[str, Any]:
    t = await svc.store.turn_row(turn_id)
    committed = await svc.courtroom.execute(t["session_id"], c.StartTurn(turn_id), user.actor())
    started = next(e for e in committed.entries if e.event_type == "TURN_STARTED")
    d = orjson.loads(started.details_json)
    now = svc.courtroom.clock()
    return {
        "turn_id": turn_id,
        "started_at": ms_to_iso(d["started_at_ms"]),
        "allowed_seconds": d["allowed_ms"] // 1000,
        "remaining_seconds": max(0, d["deadline_ms"] - now) // 1000,
        "deadline_ms": d["deadline_ms"],
        "server_time_ms": now,
    }


def _after_submit(turn_id: str, committed: Any) -> dict[str, Any]:
    state = SessionState.from_dict(committed.state)
    for r in state.rounds.values():
        t = r.turn(turn_id)
        if t is not None:
            cur = r.current
            return {
                "success": True,
                "turn_id": turn_id,
                "submitted_at": ms_to_iso(t.ended_at_ms) if t.ended_at_ms else None,
                "late": t.late,
                "next_current_speaker_participant_id": cur.participant_id if cur else None,
                "next_turn_id": r.current_turn_id,
                "round_status": r.status,
            }
    return {"success": True, "turn_id": turn_id}


@router.post("/turns/{turn_id}/submit", response_model=m.TurnSubmitted)
async def submit_turn(turn_id: TurnId, body: SubmitBody, svc: Svc, user: User) -> dict[str, Any]:
    t = await svc.store.turn_row(turn_id)
    cmd = c.SubmitTurn(turn_id, body.transcript, body.word_count)
    return _after_submit(turn_id, await svc.courtroom.execute(t["session_id"], cmd, user.actor()))


@router.post("/turns/{turn_id}/force_submit", response_model=m.TurnSubmitted)
async def force_submit(
    turn_id: TurnId, body: ForceSubmitBody, svc: Svc, user: Faculty
) -> dict[str, Any]:
    t = await svc.store.turn_row(turn_id)
    cmd = c.ForceSubmit(turn_id, body.transcript, body.reason, body.word_count)
    return _after_submit(turn_id, await svc.courtroom.execute(t["session_id"], cmd, user.actor()))


@router.get("/turns/{turn_id}/audit", response_model=m.TurnAudit)
async def turn_audit(turn_id: TurnId, svc: Svc, user: User) -> dict[str, Any]:
    await svc.store.turn_row(turn_id)
    rows = await svc.store.turn_audit(turn_id)
    return {
        "turn_id": turn_id,
        "audit": [
            {
                "id": r["id"],
                "action": r["action"],
                "actor_user_id": r["actor_user_id"],
                "payload": orjson.loads(r["payload_json"]),
                "sequence_number": r["sequence_number"],
                "created_at": r["created_at"],
            }
            for r in rows
        ],
    }
