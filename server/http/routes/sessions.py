"""Phase 19 routes: ``/api/session/...`` (seed 000's route table and RBAC summary)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool

from protocol import PARTICIPANT_ROLES
from protocol.errors import (
    Conflict,
    FeatureDisabled,
    NotFound,
    PermissionDenied,
    ProtocolError,
    Unauthorized,
    ValidationFailed,
)
from server.http.routes import models as m
from server.http.routes.deps import (
    JSON_INT,
    MAX_SEQ,
    UUID_PATTERN,
    MaybeUser,
    SessionId,
    Svc,
    User,
    feature,
    keeper,
    require_roles,
    storable,
)
from server.live.board_socket import announce_session
from server.rules import commands as c
from server.rules.state import CONTROL_ROLES, Actor
from store import Committed

router = APIRouter(
    prefix="/api/session",
    tags=["sessions"],
    dependencies=[Depends(feature("moot_operations"))],
    responses=m.errors(400, 401, 403, 404, 409, 422, 503),
)
Seq = Annotated[int, Query(ge=1, le=MAX_SEQ)]
Control = Annotated[Any, Depends(require_roles(*sorted(CONTROL_ROLES)))]


class CreateSessionBody(BaseModel):
    assignment_id: str | None = Field(default=None, max_length=64)
    title: str = Field(default="", max_length=200)
    allow_anonymous_observers: StrictBool = True
    recording_url: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None


class JoinBody(BaseModel):
    role: str = Field(pattern="^(" + "|".join(PARTICIPANT_ROLES) + ")$")
    speaker: Annotated[int, Field(ge=1, le=4), JSON_INT] | None = None
    client_info: dict[str, Any] | None = None


class LeaveBody(BaseModel):
    observation_id: str | None = Field(default=None, pattern=UUID_PATTERN)
    # Returned by /observe with the id; the id alone is public (the log lists it).
    leave_token: str | None = Field(default=None, pattern="^[A-Za-z0-9_-]{24}$")


class LogBody(BaseModel):
    event_type: str = Field(pattern="^[A-Z0-9_]{1,50}$")
    details: dict[str, Any] = Field(default_factory=dict)


CommandResult = m.CommandResult


def _result(
    session_id: str, committed: Committed, extra: dict[str, Any] | None = None
) -> CommandResult:
    return CommandResult(
        session_id=session_id,
        status=committed.state["status"],
        sequence_number=committed.head.sequence_number,
        entries=[e.sequence_number for e in committed.entries],
        result=extra,
    )


@router.get("/active/list", response_model=m.SessionList)
async def active_list(svc: Svc, user: User) -> dict[str, Any]:
    rows = await svc.store.list_sessions(["active", "paused"])
    return {"sessions": rows, "count": len(rows)}


@router.get("/list", response_model=m.SessionList)
async def list_sessions(
    svc: Svc,
    user: User,
    status: Annotated[str | None, Query(pattern="^(pending|active|paused|completed)$")] = None,
) -> dict[str, Any]:
    statuses = [status] if status else ["pending", "active", "paused", "completed"]
    rows = await svc.store.list_sessions(statuses)
    return {"sessions": rows, "count": len(rows)}


@router.post("/create", status_code=201, response_model=m.SessionDetail)
async def create_session(body: CreateSessionBody, svc: Svc, user: Control) -> dict[str, Any]:
    if body.recording_url is not None and not svc.settings.flags.session_recording:
        raise FeatureDisabled("recording is disabled (FEATURE_SESSION_RECORDING)")
    expected: tuple[dict[str, Any], ...] = ()
    title = body.title
    tournament_id: int | None = None
    if body.assignment_id is not None:
        resolver = svc.extras.get("assignment_resolver")
        if resolver is None:
            raise NotFound("assignment not found: scheduling is not enabled")
        info = await resolver(body.assignment_id)
        expected = tuple(info["expected"])
        title = title or info.get("title", "")
        tournament_id = info.get("tournament_id")
        if await svc.store.find_by_assignment(body.assignment_id) is not None:
            raise Conflict("a session for this assignment exists already")
    storable(body.metadata, "metadata")
    metadata = dict(body.metadata or {})
    if body.recording_url:
        metadata["recording_url"] = body.recording_url
    committed = await svc.courtroom.create_session(
        user.actor(),
        assignment_id=body.assignment_id,
        title=title,
        allow_anonymous_observers=body.allow_anonymous_observers,
        expected=expected,
        metadata=metadata or None,
    )
    sid = committed.entries[0].session_id
    if tournament_id is not None:
        # Open boards of the tournament show the new session now, on every node.
        await announce_session(svc, tournament_id, committed.entries)
    return await _detail(svc, sid)


async def _detail(svc: Svc, session_id: str) -> dict[str, Any]:
    row = await svc.store.row(session_id)
    state = orjson.loads(row["state"])
    final = await keeper(svc).final(session_id) if row["status"] == "completed" else None
    return {
        "id": row["id"],
        "assignment_id": row["assignment_id"],
        "status": row["status"],
        "title": row["title"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "recording_url": (orjson.loads(row["metadata"]) if row["metadata"] else {}).get(
            "recording_url"
        ),
        "metadata": orjson.loads(row["metadata"]) if row["metadata"] else None,
        "integrity_hash": row["integrity_hash"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "head": {"sequence_number": row["head_seq"], "hash": row["head_hash"]},
        "state": state,
        "final_checkpoint": final.as_dict() if final is not None else None,
    }


async def _head(svc: Svc, session_id: str) -> Committed:
    """The session as it is now (for routes whose command was batched with others)."""
    state, head = await svc.store.load(session_id)
    return Committed([], state, head, None)


@router.get("/{session_id}", response_model=m.SessionDetail)
async def get_session(session_id: SessionId, svc: Svc, user: User) -> dict[str, Any]:
    return await _detail(svc, session_id)


async def _run(svc: Svc, session_id: str, cmd: c.SessionCommand, actor: Actor) -> CommandResult:
    return _result(session_id, await svc.courtroom.execute(session_id, cmd, actor))


@router.post("/{session_id}/start", response_model=CommandResult)
async def start(session_id: SessionId, svc: Svc, user: Control) -> CommandResult:
    return await _run(svc, session_id, c.Start(), user.actor())


@router.post("/{session_id}/pause", response_model=CommandResult)
async def pause(session_id: SessionId, svc: Svc, user: Control) -> CommandResult:
    return await _run(svc, session_id, c.Pause(), user.actor())


@router.post("/{session_id}/resume", response_model=CommandResult)
async def resume(session_id: SessionId, svc: Svc, user: Control) -> CommandResult:
    return await _run(svc, session_id, c.Resume(), user.actor())


@router.post("/{session_id}/complete", response_model=CommandResult)
async def complete(session_id: SessionId, svc: Svc, user: Control) -> CommandResult:
    committed = await svc.courtroom.execute(session_id, c.Complete(), user.actor())
    row = await svc.store.row(session_id)
    return _result(session_id, committed, {"integrity_hash": row["integrity_hash"]})


@router.post("/{session_id}/join", response_model=CommandResult)
async def join(session_id: SessionId, body: JoinBody, svc: Svc, user: User) -> CommandResult:
    storable(body.client_info, "client_info")
    return await _run(
        svc,
        session_id,
        c.Join(role=body.role, speaker=body.speaker, client_info=body.client_info),
        user.actor(),
    )


@router.post("/{session_id}/leave", response_model=CommandResult)
async def leave(
    session_id: SessionId, svc: Svc, user: MaybeUser, body: LeaveBody | None = None
) -> CommandResult:
    if body is not None and body.observation_id:
        oid = body.observation_id
        if not body.leave_token or not svc.signer.holds(session_id, oid, body.leave_token):
            raise PermissionDenied("give the leave_token that /observe returned with this id")
        await svc.observers.leave(session_id, oid)
        return _result(session_id, await _head(svc, session_id))
    if user is None:
        raise Unauthorized("sign in to leave as a participant, or give observation_id")
    return await _run(svc, session_id, c.Leave(), user.actor())


@router.get("/{session_id}/participants", response_model=m.Participants)
async def participants(session_id: SessionId, svc: Svc, user: User) -> dict[str, Any]:
    await svc.store.row(session_id)
    rows = await svc.store.participations(session_id)
    for r in rows:
        r["client_info"] = orjson.loads(r["client_info"]) if r["client_info"] else None
    return {
        "session_id": session_id,
        "participants": rows,
        "observers": await svc.store.observations(session_id),
    }


@router.post("/{session_id}/observe", response_model=CommandResult)
async def observe(session_id: SessionId, svc: Svc, user: MaybeUser) -> CommandResult:
    import uuid

    oid = str(uuid.uuid4())
    await svc.observers.join(session_id, oid, user.actor().user_id if user else None)
    token = svc.signer.leave_token(session_id, oid)
    return _result(
        session_id, await _head(svc, session_id), {"observation_id": oid, "leave_token": token}
    )


@router.post("/{session_id}/log", response_model=CommandResult)
async def log_event(session_id: SessionId, body: LogBody, svc: Svc, user: Control) -> CommandResult:
    from protocol import check_details

    storable(body.details, "details")
    try:
        details = check_details(body.details)
    except ProtocolError as exc:
        # Well-formed JSON that the log's rules refuse (non-ASCII keys...): 422, as over HTTP
        # every domain refusal of schema-valid input is.
        raise ValidationFailed(exc.message) from None
    return await _run(svc, session_id, c.LogCustom(body.event_type, details), user.actor())


def _entries_body(session_id: str, entries: list[Any], extra: dict[str, Any]) -> Response:
    head = orjson.dumps({"session_id": session_id, **extra})[:-1]
    body = head + b',"entries":[' + b",".join(e.json() for e in entries) + b"]}"
    return Response(body, media_type="application/json")


@router.get(
    "/{session_id}/logs",
    response_class=Response,
    responses={200: {"model": m.LogPage, "description": "A page of the log"}},
)
async def logs(
    session_id: SessionId,
    svc: Svc,
    user: User,
    from_sequence: Seq = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    row = await svc.store.row(session_id)
    entries = await svc.store.entries(session_id, from_sequence, limit)
    return _entries_body(
        session_id,
        entries,
        {"from_sequence": from_sequence, "count": len(entries), "head_sequence": row["head_seq"]},
    )


@router.get(
    "/{session_id}/replay",
    response_class=Response,
    responses={200: {"model": m.Replay, "description": "The log from a sequence number on"}},
)
async def replay(session_id: SessionId, svc: Svc, user: User, from_sequence: Seq = 1) -> Response:
    row = await svc.store.row(session_id)
    entries = [e async for e in svc.store.stream_entries(session_id, from_sequence)]
    return _entries_body(
        session_id,
        entries,
        {
            "from_sequence": from_sequence,
            "count": len(entries),
            "head": {"sequence_number": row["head_seq"], "hash": row["head_hash"]},
        },
    )


@router.get("/{session_id}/verify", response_model=m.Verification)
async def verify(session_id: SessionId, svc: Svc, user: User) -> dict[str, Any]:
    return (await svc.store.verify(session_id)).as_dict()


@router.get(
    "/{session_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The log as JSON lines, one entry a line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def export(session_id: SessionId, svc: Svc, user: User) -> StreamingResponse:
    await svc.store.row(session_id)

    async def lines() -> AsyncIterator[bytes]:
        async for e in svc.store.stream_entries(session_id):
            yield e.json_line()

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="session-{session_id}.jsonl"'},
    )
