"""Which web origins may open a WebSocket or send a state-changing request.

``COURTROOM_ALLOWED_ORIGINS`` lists them (``https://court.example.org,...``, or
``*`` for any). Left empty (the default, and what the demo needs) only the
server's own origin is allowed: the ``Origin`` header's host must be the
request's ``Host``, which is what the browser pages served from ``/app/`` send.
Requests without an ``Origin`` header (the Python client, curl, other servers)
are not browsers and pass: the check stops a page on another site from using a
visitor's browser, not a client that can set any header it likes.

A refused WebSocket is closed before it is accepted (the client sees HTTP 403);
a refused POST/PATCH/PUT/DELETE gets 403 ``{detail, code: "forbidden"}``.
Listed origins also get CORS answers, so a page hosted elsewhere may call the API.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["OriginGate", "origin_allowed", "origin_refused", "refuse_socket"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_allowed(origin: str, host: str, allowed: Sequence[str]) -> bool:
    if "*" in allowed:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    # Same origin: the part after "scheme://" is the Host the browser sent.
    _, sep, netloc = origin.partition("://")
    return bool(sep) and netloc.lower() == host.lower()


def origin_refused(scope: Scope, allowed: Sequence[str]) -> bool:
    """Whether the request carries an ``Origin`` that may not use this server."""
    origin = host = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    return origin is not None and not origin_allowed(origin, host or "", allowed)


async def refuse_socket(send: Send) -> None:
    """Close a WebSocket before accepting it: the client sees HTTP 403."""
    await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})


class OriginGate:
    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (
            kind == "websocket" or (kind == "http" and scope["method"] not in _SAFE)
        ) and origin_refused(scope, self.allowed):
            await self._refuse(kind, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(kind: str, send: Send) -> None:
        if kind == "websocket":
            await refuse_socket(send)
            return
        body = orjson.dumps({"detail": "origin not allowed", "code": "forbidden"})
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
