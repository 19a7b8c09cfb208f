"""``POST /api/auth/login``: form username and password → bearer JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel

from protocol.errors import Unauthorized
from server.auth import DUMMY_HASH, verify_password
from server.routes.deps import Svc, User

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: int
    role: str


class Me(BaseModel):
    user_id: int
    username: str
    role: str
    name: str


@router.post("/login", response_model=TokenResponse)
async def login(
    svc: Svc,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
) -> TokenResponse:
    user = await svc.users.by_username(username)
    # Verify against a dummy hash for unknown users: same cost, no user enumeration.
    ok = verify_password(user["password_hash"] if user else DUMMY_HASH, password)
    if user is None or not ok:
        raise Unauthorized("wrong username or password")
    token, ttl = svc.signer.issue(user)
    return TokenResponse(access_token=token, expires_in=ttl, user_id=user["id"], role=user["role"])


@router.get("/me", response_model=Me)
async def me(user: User) -> Me:
    return Me(user_id=user.user_id, username=user.username, role=user.role, name=user.name)
