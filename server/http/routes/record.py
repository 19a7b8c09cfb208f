"""Record v2 routes (issue 11): keys, checkpoints, proofs, receipts and the bundle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from protocol.bundle import bundle_head, bundle_row, bundle_tail
from protocol.errors import NotFound, PermissionDenied, Unauthorized
from server.http.routes import models as m, record_models as rm
from server.http.routes.deps import (
    MaybeUser,
    SessionId,
    Svc,
    User,
    feature,
    keeper,
    require_roles,
)
from server.rules.state import CONTROL_ROLES

keys_router = APIRouter(tags=["record"])
router = APIRouter(
    prefix="/api/session", tags=["record"], dependencies=[Depends(feature("moot_operations"))]
)
Control = Annotated[Any, Depends(require_roles(*sorted(CONTROL_ROLES)))]
Seq = Annotated[int, Query(ge=1, le=2**53 - 1)]


@keys_router.get("/.well-known/courtroom-keys", response_model=rm.KeyList)
async def courtroom_keys(svc: Svc) -> dict[str, Any]:
    """The public keys that sign checkpoints, with key ids and validity (no sign-in)."""
    return keeper(svc).keyring.document()


@router.get(
    "/{session_id}/checkpoints",
    response_model=rm.CheckpointList,
    responses=m.errors(401, 403, 404, 422, 503),
)
async def checkpoints(session_id: SessionId, svc: Svc, user: MaybeUser) -> dict[str, Any]:
    """Signed in, or anonymously where the session admits anonymous observers.

    Those observers see every entry live anyway; without the checkpoints signed
    before they came, their badge could say "signed" only at the next boundary.
    """
    if user is None:
        state, _ = await svc.store.load(session_id)
        if not state.get("allow_anonymous_observers", True):
            raise Unauthorized("sign in first: this session admits no anonymous observers")
    rows = await keeper(svc).checkpoints(session_id)
    return {"session_id": session_id, "checkpoints": [r.as_dict() for r in rows]}


@router.post(
    "/{session_id}/checkpoint",
    status_code=201,
    response_model=m.CheckpointOut,
    responses=m.errors(401, 403, 404, 422, 503),
)
async def checkpoint_now(session_id: SessionId, svc: Svc, user: Control) -> dict[str, Any]:
    """A judge asks for a signed checkpoint of the log as it is now."""
    return (await keeper(svc).checkpoint_now(session_id)).as_dict()


@router.get(
    "/{session_id}/proof/inclusion",
    response_model=rm.InclusionProof,
    responses=m.errors(401, 403, 404, 422, 503),
)
async def inclusion(
    session_id: SessionId, svc: Svc, user: User, sequence: Seq, size: Seq
) -> dict[str, Any]:
    return await keeper(svc).inclusion(session_id, sequence, size)


@router.get(
    "/{session_id}/proof/consistency",
    response_model=rm.ConsistencyProof,
    response_model_by_alias=True,
    responses=m.errors(401, 403, 404, 422, 503),
)
async def consistency(
    session_id: SessionId,
    svc: Svc,
    user: User,
    old: Annotated[int, Query(ge=1, le=2**53 - 1, alias="from")],
    new: Annotated[int, Query(ge=1, le=2**53 - 1, alias="to")],
) -> dict[str, Any]:
    return await keeper(svc).consistency(session_id, old, new)


@router.get(
    "/{session_id}/receipt",
    response_model=rm.Receipt,
    responses=m.errors(401, 403, 404, 422, 503),
)
async def receipt(session_id: SessionId, svc: Svc, user: User, sequence: Seq) -> dict[str, Any]:
    """A speaker's proof of their own submission (the bench may fetch any receipt)."""
    k = keeper(svc)
    entries = await svc.store.entries(session_id, sequence, 1)
    if not entries or entries[0].sequence_number != sequence:
        await svc.store.row(session_id)
        raise NotFound(f"no entry #{sequence}")
    if user.role not in CONTROL_ROLES and entries[0].actor_id != str(user.user_id):
        raise PermissionDenied("a receipt is for the entry's own author")
    return await k.receipt(session_id, sequence)


@router.get(
    "/{session_id}/bundle",
    response_class=StreamingResponse,
    responses={
        200: {"model": rm.Bundle, "description": "The bundle: one JSON file (docs/protocol.md §4)"},
        **m.errors(401, 403, 404, 422, 503),
    },
)
async def bundle(session_id: SessionId, svc: Svc, user: User) -> StreamingResponse:
    """One JSON file: the entries, every checkpoint, and the public keys they name."""
    row = await svc.store.row(session_id)
    k = keeper(svc)
    await k.sync(session_id, to_head=True)
    cps = await k.checkpoints(session_id)
    used = {c.key_id for c in cps}
    keys = [key.as_dict() for key in k.keyring.keys if key.key_id in used]

    async def body() -> AsyncIterator[bytes]:
        # Format 2: each entry the row of its hashed fields, one a line.
        yield bundle_head(session_id, row["status"])
        i = 0
        async for e in svc.store.stream_entries(session_id):
            yield bundle_row(i, e.row_json())
            i += 1
        yield bundle_tail([c.as_dict() for c in cps], keys)

    return StreamingResponse(
        body(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="session-{session_id}.bundle.json"'},
    )
