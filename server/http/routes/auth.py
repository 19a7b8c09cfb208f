"""``POST /api/auth/login``: credentials (form or JSON) → bearer JWT; ``GET /api/auth/me``.

The form is the OAuth2 password flow's (``username``, ``password``; ``grant_type``
and the rest are accepted and ignored), so the docs' "Authorize" button signs in;
the same fields as a JSON object work too. Failed sign-ins are throttled per account
and per client address (server/http/throttle.py): 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.errors import ProtocolError, Unauthorized
from server.common.auth import DUMMY_HASH, verify_password
from server.http.routes import models as m
from server.http.routes.deps import Svc, User
from server.http.throttle import LoginThrottle

router = APIRouter(prefix="/api/auth", tags=["auth"])

TokenResponse = m.TokenResponse
Me = m.Me


class Credentials(BaseModel):
    # OAuth2's form also carries grant_type, scope, client_id...: ignored.
    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


_SCHEMA = Credentials.model_json_schema()
_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _SCHEMA},
            "application/json": {"schema": _SCHEMA},
        },
    }
}


async def _credentials(request: Request) -> Credentials:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if ctype == "application/json":
        try:
            raw = await request.json()
        except ValueError:
            raise ProtocolError("the body is not JSON") from None
    else:
        raw = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        return Credentials.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _throttle(svc: Svc) -> LoginThrottle:
    throttle: LoginThrottle = svc.extras["login_throttle"]
    return throttle


@router.post(
    "/login",
    response_model=m.TokenResponse,
    openapi_extra=_LOGIN_BODY,
    responses={
        **m.errors(400, 401, 422, 503),
        429: {
            "model": m.ErrorBody,
            "description": "Too many failed sign-ins for this account or address",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
async def login(request: Request, svc: Svc) -> m.TokenResponse:
    creds = await _credentials(request)
    throttle = _throttle(svc)
    address = request.client.host if request.client else "-"
    throttle.check(creds.username, address)
    user = await svc.users.by_username(creds.username)
    # Verify against a dummy hash for unknown users: same cost, no user enumeration.
    ok = verify_password(user["password_hash"] if user else DUMMY_HASH, creds.password)
    if user is None or not ok:
        throttle.failed(creds.username, address)
        raise Unauthorized("wrong username or password")
    throttle.succeeded(creds.username)
    token, ttl = svc.signer.issue(user)
    return m.TokenResponse(
        access_token=token, expires_in=ttl, user_id=user["id"], role=user["role"]
    )


@router.get("/me", response_model=m.Me, responses=m.errors(401, 503))
async def me(user: User) -> m.Me:
    return m.Me(user_id=user.user_id, username=user.username, role=user.role, name=user.name)
