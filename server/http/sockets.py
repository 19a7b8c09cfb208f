"""The app's WebSocket routes, served past the middleware stack and the router.

A coroutine frame stays alive as long as the socket it serves. Through the
whole ASGI stack an idle socket held a frame of every middleware (request id,
origin gate, the catch-all, Starlette's error and exception layers, FastAPI's
exit stack, body limit and telemetry) and of the router: about 7 kB per
connection, a fifth of an idle observer (docs/benchmarks.md section 7). So
:class:`CourtroomApp` hands a socket scope that matches one of its
``socket_routes`` straight to the endpoint, after doing here what the
middleware did for sockets:

* a connection id for the log lines (``server/common/logs.py``: the client's
  ``X-Request-ID`` or a new one), reset when the socket ends;
* the Origin allow-list (``server/http/origins.py``): a refused socket is closed
  before it is accepted, and the client sees HTTP 403;
* an error that escapes the endpoint after the accept is logged once and
  closes the socket with 1011; before the accept it goes to the server, which
  answers 500, as it did through the stack. CORS and the catch-all are
  HTTP-only, and the endpoints map their own errors to close codes
  (``server/common/errors.py``), count connections and closes (``server/live/metrics.py``)
  and enforce the connection cap.

Any other scope, HTTP included, goes through the full stack.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from protocol import CloseCode
from server.common.logs import REQUEST_ID, request_id_for
from server.http.origins import origin_refused, refuse_socket

log = logging.getLogger("courtroom.sockets")


class CourtroomApp(FastAPI):
    """FastAPI, with its socket routes served directly (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.socket_routes: tuple[WebSocketRoute, ...] = ()
        self.allowed_origins: tuple[str, ...] = ()

    def serve_sockets(
        self, routes: Sequence[WebSocketRoute], allowed_origins: Sequence[str]
    ) -> None:
        """Serve ``routes`` directly. They also stay first in the router's table,
        so ``url_path_for`` knows them."""
        self.socket_routes = tuple(routes)
        self.allowed_origins = tuple(allowed_origins)
        self.router.routes[0:0] = self.socket_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._socket_route(scope) if scope["type"] == "websocket" else None
        if route is None:
            await super().__call__(scope, receive, send)
            return
        # One frame, not two: it lives as long as the socket.
        token = REQUEST_ID.set(request_id_for(scope))
        try:
            if origin_refused(scope, self.allowed_origins):
                await refuse_socket(send)
                return
            ws = WebSocket(scope, receive, send)
            try:
                await route.endpoint(ws)
            except Exception:
                if ws.application_state != WebSocketState.CONNECTED:
                    raise  # not accepted yet: the server answers 500 and logs it
                log.exception("socket %s failed", scope.get("path"))
                # The client may be gone already: then there is nobody to tell.
                with contextlib.suppress(Exception):
                    await ws.close(code=int(CloseCode.INTERNAL), reason="internal error")
        finally:
            REQUEST_ID.reset(token)

    def _socket_route(self, scope: Scope) -> WebSocketRoute | None:
        """The socket route for this scope, with the scope completed as the router would."""
        if self.root_path:  # as FastAPI does, before matching on the path
            scope["root_path"] = self.root_path
        for route in self.socket_routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["app"] = self
                scope["router"] = self.router
                return route
        return None
