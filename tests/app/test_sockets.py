"""Socket routes served past the middleware (server/http/sockets.py), with the middleware's checks."""

from __future__ import annotations

import pytest
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.common.logs import REQUEST_ID
from server.http.sockets import CourtroomApp

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def make_app() -> tuple[CourtroomApp, list[str]]:
    """An app with one direct socket route and a middleware that notes what passes it."""
    seen: list[str] = []

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        text = await ws.receive_text()
        if text == "boom":
            raise RuntimeError("a bug in the endpoint")
        await ws.send_json(
            {"id": REQUEST_ID.get(), "param": ws.path_params["name"], "app": ws.app is app}
        )
        await ws.close()

    async def other(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("through the stack")
        await ws.close()

    class Note:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(f"{scope['type']} {scope.get('path', '')}")
            await self.app(scope, receive, send)

    app = CourtroomApp()
    app.serve_sockets([WebSocketRoute("/ws/echo/{name}", echo)], ["https://court.example.org"])
    app.router.routes.append(WebSocketRoute("/ws/other", other))
    app.add_middleware(Note)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app, seen


def test_socket_routes_skip_the_middleware_other_scopes_do_not() -> None:
    app, seen = make_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws/echo/abc", headers={"X-Request-ID": "trace.7"}) as ws:
            ws.send_text("hi")
            assert ws.receive_json() == {"id": "trace.7", "param": "abc", "app": True}
        with client.websocket_connect("/ws/other") as ws:
            assert ws.receive_text() == "through the stack"
        assert client.get("/ping").json() == {"ok": True}
    assert [s for s in seen if not s.startswith("lifespan")] == [
        "websocket /ws/other",
        "http /ping",
    ]


def test_a_socket_without_a_usable_request_id_gets_a_new_one() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        ids = []
        for given in ("", "not a token!"):
            with client.websocket_connect("/ws/echo/x", headers={"X-Request-ID": given}) as ws:
                ws.send_text("hi")
                ids.append(ws.receive_json()["id"])
    assert all(len(i) == 16 for i in ids) and ids[0] != ids[1]
    assert REQUEST_ID.get() == "-"  # reset once the socket ended


def test_the_origin_allow_list_holds_on_the_direct_path() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        with pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)):
            with client.websocket_connect(
                "/ws/echo/x", headers={"Origin": "https://evil.example"}
            ) as ws:
                ws.receive_text()
        for origin in ("https://court.example.org", "http://testserver"):
            with client.websocket_connect("/ws/echo/x", headers={"Origin": origin}) as ws:
                ws.send_text("hi")
                assert ws.receive_json()["param"] == "x"


def test_an_error_after_the_accept_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws/echo/x") as ws:
            ws.send_text("boom")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
    assert closed.value.code == 1011
    failures = [r for r in caplog.records if r.name == "courtroom.sockets"]
    assert len(failures) == 1 and failures[0].exc_info is not None
