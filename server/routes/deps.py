"""Request dependencies: services, the signed-in user, roles, feature flags."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from protocol.errors import FeatureDisabled, PermissionDenied, Unauthorized
from server.auth import Principal
from server.config import Flags
from server.services import Services

_bearer = HTTPBearer(auto_error=False)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


async def optional_user(
    svc: Svc, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    if creds is None:
        return None
    if creds.scheme.lower() != "bearer":
        raise Unauthorized("use a bearer token")
    return svc.signer.verify(creds.credentials)


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
