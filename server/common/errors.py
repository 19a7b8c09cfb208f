"""The one place errors become HTTP responses and WebSocket frames or close codes."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    retry_after = getattr(exc, "retry_after", None)  # a throttled sign-in (server/http/throttle.py)
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


class CatchAll:
    """The last resort for an HTTP request: a bug becomes 500 ``{detail, code}``, logged once.

    Starlette's own handler for ``Exception`` answers and then re-raises, and uvicorn then
    closes the connection, so a client's next request on that keep-alive connection failed
    too. Here the error stops: the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is out: only closing the connection is honest
            response = JSONResponse({"detail": "internal error", "code": "internal"}, 500)
            await response(scope, receive, send)


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
