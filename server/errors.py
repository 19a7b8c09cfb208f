"""The one place errors become HTTP responses and WebSocket frames or close codes."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from protocol import CloseCode
from protocol.errors import (
    CourtroomError,
    FrameTooLarge,
    NotFound,
    PermissionDenied,
    ProtocolError,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger("courtroom.errors")


def http_response(exc: CourtroomError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": "1"}
    retry_after = getattr(exc, "retry_after", None)  # a throttled sign-in (server/throttle.py)
    if isinstance(retry_after, int):
        headers = {"Retry-After": str(retry_after)}
    return JSONResponse(
        {"detail": exc.message, "code": str(exc.code)}, status_code=exc.http_status, headers=headers
    )


async def courtroom_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CourtroomError)
    if exc.http_status >= 500:
        log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.http_status, exc)
    return http_response(exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


def close_code_for(exc: CourtroomError) -> CloseCode:
    """The close code for an error that ends a connection before or at ``hello``."""
    if isinstance(exc, FrameTooLarge):
        return CloseCode.TOO_LARGE
    if isinstance(exc, Unauthorized):
        return CloseCode.UNAUTHORIZED
    if isinstance(exc, PermissionDenied):
        return CloseCode.FORBIDDEN
    if isinstance(exc, NotFound):
        return CloseCode.NOT_FOUND
    if isinstance(exc, ProtocolError):
        return CloseCode.POLICY
    if exc.temporary:
        return CloseCode.OVERLOADED
    return CloseCode.INTERNAL
