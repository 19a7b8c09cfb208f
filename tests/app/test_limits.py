"""Operator limits (issue 14 item 3) and sign-in (issue 15 item 3) through the real app.

Login throttling per account and per address on a ManualClock, allowed Origins for the
WebSocket and state-changing requests, the per-connection command rate and the
per-process connection cap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.conftest import PASSWORD, Court
from timers import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

LOGIN = "/api/auth/login"


def login(court: Court, username: str, password: str, **kw: Any) -> Any:
    return court.client.post(LOGIN, data={"username": username, "password": password}, **kw)


# --- sign-in: the OAuth2 password form, or JSON ------------------------------------------


def test_login_takes_the_oauth2_form_and_json(court: Court) -> None:
    form = {"grant_type": "password", "username": "judge", "password": PASSWORD, "scope": ""}
    r = court.client.post(LOGIN, data=form)
    assert r.status_code == 200 and r.json()["role"] == "JUDGE"
    r = court.client.post(LOGIN, json={"username": "judge", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = court.client.get(
        "/api/auth/me", headers={"Authorization": "Bearer " + r.json()["access_token"]}
    )
    assert me.json()["username"] == "judge"


def test_login_refuses_bad_bodies_with_the_error_shape(court: Court) -> None:
    r = court.client.post(LOGIN, json={"username": "judge"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    r = court.client.post(LOGIN, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    r = court.client.post(LOGIN, json={"username": "judge", "password": "wrong-password"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    # A refusal never echoes the submitted password back.
    r = court.client.post(LOGIN, json={"username": "", "password": "s3cret-pa55word"})
    assert r.status_code == 422 and "s3cret-pa55word" not in r.text


def test_openapi_declares_the_password_flow(court: Court) -> None:
    doc = court.client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    (scheme,) = schemes.values()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "api/auth/login"
    body = doc["paths"][LOGIN]["post"]["requestBody"]["content"]
    assert {"application/x-www-form-urlencoded", "application/json"} <= set(body)
    assert "429" in doc["paths"][LOGIN]["post"]["responses"]


# --- throttling ---------------------------------------------------------------------------


@pytest.fixture
def clocked(court_factory: Callable[..., Court]) -> tuple[Court, ManualClock]:
    clock = ManualClock(1_700_000_000_000)
    return court_factory(clock=clock), clock


def test_failed_logins_back_off_per_account(clocked: tuple[Court, ManualClock]) -> None:
    court, clock = clocked
    for _ in range(5):  # COURTROOM_LOGIN_FAILURES_PER_ACCOUNT: free failures
        assert login(court, "judge", "wrong").status_code == 401
    assert login(court, "judge", "wrong").status_code == 401  # locks the account for 1 s
    r = login(court, "judge", PASSWORD)  # even the right password waits
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json() == {
        "detail": "too many failed sign-ins: try again later",
        "code": "rate_limited",
    }
    assert login(court, "faculty", PASSWORD).status_code == 200  # other accounts are not locked
    clock.advance(1000)
    assert login(court, "judge", "wrong").status_code == 401  # locks it for 2 s now
    assert login(court, "judge", PASSWORD).headers["Retry-After"] == "2"
    clock.advance(2000)
    assert login(court, "judge", PASSWORD).status_code == 200  # and resets the count
    for _ in range(5):
        assert login(court, "judge", "wrong").status_code == 401


def test_failed_logins_back_off_per_address(court_factory: Callable[..., Court]) -> None:
    clock = ManualClock(1_700_000_000_000)
    court = court_factory(clock=clock, COURTROOM_LOGIN_FAILURES_PER_ADDRESS="3")
    for name in ("pet1", "pet2", "res1"):  # a spray: one try per account
        assert login(court, name, "wrong").status_code == 401
    assert login(court, "res2", "wrong").status_code == 401
    r = login(court, "admin", PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    clock.advance(60_000)
    assert login(court, "admin", PASSWORD).status_code == 200


def test_backoff_is_capped(court_factory: Callable[..., Court]) -> None:
    clock = ManualClock(1_700_000_000_000)
    court = court_factory(clock=clock, COURTROOM_LOGIN_MAX_BACKOFF_SECONDS="4")
    for _ in range(5):
        login(court, "judge", "wrong")
    for _ in range(6):
        login(court, "judge", "wrong")
        clock.advance(4000)
    login(court, "judge", "wrong")
    assert login(court, "judge", PASSWORD).headers["Retry-After"] == "4"


# --- origins --------------------------------------------------------------------------------


def test_websocket_from_another_origin_is_refused(court: Court) -> None:
    sid = court.new_session()
    url = f"/ws/sessions/{sid}"
    with pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)):
        with court.client.websocket_connect(url, headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_json()
    # The server's own pages (same origin) and non-browser clients (no Origin) connect.
    with court.client.websocket_connect(url, headers={"Origin": "http://testserver"}) as ws:
        assert court.hello(ws)["type"] == "welcome"
    with court.client.websocket_connect(url) as ws:
        assert court.hello(ws)["type"] == "welcome"


def test_state_changes_from_another_origin_are_refused(court: Court) -> None:
    evil = {"Origin": "https://evil.example"}
    r = court.client.post(LOGIN, data={"username": "judge", "password": PASSWORD}, headers=evil)
    assert r.status_code == 403 and r.json() == {
        "detail": "origin not allowed",
        "code": "forbidden",
    }
    r = court.client.post(
        "/api/session/create", json={"title": "x"}, headers={**court.h("judge"), **evil}
    )
    assert r.status_code == 403
    # Reads are not state changes: allowed (CORS decides what the other page may read).
    assert court.client.get("/healthz", headers=evil).status_code == 200


def test_listed_origins_are_allowed_with_cors(court_factory: Callable[..., Court]) -> None:
    court = court_factory(COURTROOM_ALLOWED_ORIGINS="https://court.example.org")
    ok = {"Origin": "https://court.example.org"}
    r = court.client.post(LOGIN, data={"username": "judge", "password": PASSWORD}, headers=ok)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://court.example.org"
    r = court.client.post(
        LOGIN,
        data={"username": "judge", "password": PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert r.status_code == 200  # same origin still works
    sid = court.new_session()
    with court.client.websocket_connect(f"/ws/sessions/{sid}", headers=ok) as ws:
        assert court.hello(ws)["type"] == "welcome"
    with pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)):
        with court.client.websocket_connect(
            f"/ws/sessions/{sid}", headers={"Origin": "https://evil.example"}
        ) as ws:
            ws.receive_json()


# --- WebSocket: command rate and connection cap -------------------------------------------


def test_command_rate_per_connection(court_factory: Callable[..., Court]) -> None:
    # A refill this slow never adds a token during the test: exactly the burst passes.
    court = court_factory(COURTROOM_WS_RATE="0.0001", COURTROOM_WS_BURST="3")
    sid = court.new_session()
    with court.client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        court.hello(ws)
        for i in range(4):
            ws.send_json({"type": "ping", "id": i + 1})
        answers: list[dict[str, Any]] = []
        while len(answers) < 4:
            msg = ws.receive_json()
            if msg["type"] in ("pong", "error"):
                answers.append(msg)
        assert [a["type"] for a in answers] == ["pong", "pong", "pong", "error"]
        assert answers[3]["code"] == "rate_limited" and answers[3]["temporary"] is True
    # Each connection has its own budget.
    with court.client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        court.hello(ws)
        ws.send_json({"type": "ping", "id": 9})
        # (The first socket's departure may be logged meanwhile: events pass by.)
        answer = next(m for m in iter(ws.receive_json, None) if m["type"] not in ("tick", "event"))
        assert answer["type"] == "pong"


def test_connection_cap_refuses_with_1013(court_factory: Callable[..., Court]) -> None:
    court = court_factory(COURTROOM_MAX_CONNECTIONS="1")
    sid = court.new_session()
    url = f"/ws/sessions/{sid}"
    with court.client.websocket_connect(url) as first:
        court.hello(first)
        with court.client.websocket_connect(url) as second:
            with pytest.raises(WebSocketDisconnect) as info:
                second.receive_json()
            assert info.value.code == 1013
        first.send_json({"type": "ping", "id": 1})  # the first is unaffected
        answer = next(
            m for m in iter(first.receive_json, None) if m["type"] not in ("tick", "event")
        )
        assert answer["type"] == "pong"
    with court.client.websocket_connect(url) as again:  # room again once it left
        assert court.hello(again)["type"] == "welcome"
