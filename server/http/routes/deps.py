"""Request dependencies: services, the signed-in user, roles, feature flags."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BeforeValidator

from protocol.errors import FeatureDisabled, PermissionDenied, Unauthorized, ValidationFailed
from server.common.auth import Principal
from server.common.config import Flags
from server.live.record import RecordKeeper
from server.live.services import Services

# The OAuth2 password flow, so that the docs' "Authorize" signs in with the login
# form; the token then goes as ``Authorization: Bearer``. Relative, so that it
# resolves against the document's own URL behind a proxy's sub-path.
_bearer = OAuth2PasswordBearer(tokenUrl="api/auth/login", auto_error=False)

# Boundary validation of ids (a malformed id is 422, a well-formed unknown one 404).
# Integer ids (users, tournaments and their rows) are INTEGER columns, 32-bit in
# PostgreSQL: a larger one can name nothing, and must not reach the driver (it raised
# OverflowError on SQLite beyond 64 bits). Session, round and turn ids are UUIDs.
MAX_ID = 2**31 - 1
# Sequence numbers are BIGINT; bounded to what a JSON number holds exactly.
MAX_SEQ = 2**53 - 1
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _json_int(v: object) -> object:
    """A JSON integer: 3 or 3.0, never true, "3" or 3.5 (pydantic's lax mode takes those)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError("an integer")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError("an integer")
        return int(v)
    return v


# Put it after the constraints, `Annotated[int, Field(ge=1), JSON_INT]`, so that the
# constraints still show in the OpenAPI document (as minimum/maximum).
JSON_INT = BeforeValidator(_json_int)


def storable(value: object, what: str) -> None:
    """Refuse (422) a free-form JSON value the store's encoder cannot write: an integer
    beyond 64 bits, a lone surrogate in a string, nesting deeper than 255 levels. Checked
    here, before anything is written, instead of failing as a 500 inside the transaction.
    """
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValidationFailed(f"{what} cannot be stored: {exc}") from None


SessionId = Annotated[str, Path(pattern=UUID_PATTERN, description="A session's UUID")]
RoundId = Annotated[str, Path(pattern=UUID_PATTERN, description="A round's UUID")]
TurnId = Annotated[str, Path(pattern=UUID_PATTERN, description="A turn's UUID")]


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


def keeper(svc: Services) -> RecordKeeper:
    """The node's record keeper (checkpoints, proofs; server/live/record.py)."""
    k: RecordKeeper = svc.extras["record"]
    return k


async def optional_user(
    svc: Svc, request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> Principal | None:
    if token is None:
        header = request.headers.get("authorization")
        if header is not None and header.strip():
            raise Unauthorized("use a bearer token")
        return None
    return svc.signer.verify(token)


async def current_user(user: Annotated[Principal | None, Depends(optional_user)]) -> Principal:
    if user is None:
        raise Unauthorized("sign in first: POST /api/auth/login")
    return user


User = Annotated[Principal, Depends(current_user)]
MaybeUser = Annotated[Principal | None, Depends(optional_user)]


def require_roles(*roles: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    async def check(user: User) -> Principal:
        if user.role not in roles:
            raise PermissionDenied(f"needs one of the roles {', '.join(roles)}")
        return user

    return check


def feature(name: str) -> Callable[[Services], Coroutine[Any, Any, None]]:
    """403 when the named flag (an attribute of ``Flags``) is off, as the seeds say."""
    if not hasattr(Flags, name):  # pragma: no cover - programming error
        raise AttributeError(name)

    async def check(svc: Svc) -> None:
        if not getattr(svc.settings.flags, name):
            raise FeatureDisabled(f"feature {('FEATURE_' + name).upper()} is disabled")

    return check
