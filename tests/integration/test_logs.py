"""Logs of a real server process (issue 14 item 7, issue 15 item 5).

A full flow (sign-ins right and wrong, a session run over HTTP and the WebSocket, export
and verify) against `courtroom serve` with ``COURTROOM_LOG_FORMAT=json``; then the log is
searched for every token, password, password hash and the signing key, and every line must
be one JSON object with a request id.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.integration.procs import DEFAULT_SECRET_KEY, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::ResourceWarning")]

PASSWORDS = {"judge": "judge-Pa55word-xyz", "pet1": "pet1-Pa55word-xyz"}


def call(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    data = None
    req_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        req_headers["Content-Type"] = "application/json"
    elif form is not None:
        data = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        req_headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        req_headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=req_headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def full_flow(server: ServerProcess) -> list[str]:
    """Everything a session goes through; returns the tokens the server issued."""
    base = server.base_url
    tokens: list[str] = []
    for name, password in PASSWORDS.items():
        status, _, body = call(
            base, "POST", "/api/auth/login", form={"username": name, "password": password}
        )
        assert status == 200, body
        tokens.append(json.loads(body)["access_token"])
    status, _, body = call(
        base,
        "POST",
        "/api/auth/login",
        json_body={"username": "judge", "password": PASSWORDS["judge"]},
    )
    assert status == 200
    tokens.append(json.loads(body)["access_token"])
    for wrong in ("judge-wrong-guess-1", "judge-wrong-guess-2"):
        status, _, _ = call(
            base, "POST", "/api/auth/login", json_body={"username": "judge", "password": wrong}
        )
        assert status == 401
    # A refused body with a password in it: the 422 must not echo it.
    status, _, body = call(
        base,
        "POST",
        "/api/auth/login",
        json_body={"username": "", "password": "judge-wrong-guess-3"},
    )
    assert status == 422 and b"judge-wrong-guess-3" not in body
    judge, pet = tokens[0], tokens[1]
    status, _, body = call(
        base, "POST", "/api/session/create", token=judge, json_body={"title": "Logs"}
    )
    assert status == 201
    sid = json.loads(body)["id"]
    assert call(base, "POST", f"/api/session/{sid}/start", token=judge)[0] == 200
    with connect(f"{server.ws_base}/ws/sessions/{sid}") as ws:
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "v": 1,
                    "token": pet,
                    "as": "participant",
                    "role": "petitioner",
                    "speaker": 1,
                }
            )
        )
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(json.dumps({"type": "ping", "id": 1}))
        while json.loads(ws.recv())["type"] != "pong":
            pass
    with connect(f"{server.ws_base}/ws/sessions/{sid}") as ws:  # a judge's command over the socket
        ws.send(json.dumps({"type": "hello", "v": 1, "token": judge, "as": "observer"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(json.dumps({"type": "session.pause", "id": 2}))
        while json.loads(ws.recv())["type"] not in ("reply", "error"):
            pass
    for path in ("", "/participants", "/logs", "/verify", "/export"):
        assert call(base, "GET", f"/api/session/{sid}{path}", token=judge)[0] == 200
    assert call(base, "POST", f"/api/session/{sid}/complete", token=judge)[0] == 200
    assert call(base, "GET", "/api/auth/me", token="not-a-token")[0] == 401
    return tokens


def test_no_secret_in_any_log_line_and_json_lines_with_ids(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", env={"COURTROOM_LOG_FORMAT": "json", "COURTROOM_LOG_LEVEL": "debug"}
    )
    for name, password in PASSWORDS.items():
        server.create_user(name, "JUDGE" if name == "judge" else "STUDENT", password)
    with server:
        tokens = full_flow(server)
        status, headers, _ = call(
            server.base_url, "GET", "/healthz", headers={"X-Request-ID": "trace-me.42"}
        )
        assert status == 200 and headers["x-request-id"] == "trace-me.42"
        _, headers, _ = call(server.base_url, "GET", "/healthz")
        assert len(headers["x-request-id"]) == 16
    log = server.logs()
    db = sqlite3.connect(tmp_path / "data" / "courtroom.db")
    hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
    db.close()
    secrets = [*tokens, *PASSWORDS.values(), "judge-wrong-guess", *hashes, DEFAULT_SECRET_KEY]
    for secret in secrets:
        assert secret not in log, f"a secret is in the log: {secret[:12]}..."
    for token in tokens:  # nor any of a token's three parts (a JWT's signature is its own secret)
        for part in token.split("."):
            assert part not in log
    lines = [line for line in log.splitlines() if line and not line.startswith("=== start")]
    assert len(lines) > 20
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message", "request_id"} <= r.keys() for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert {"method", "path", "status", "client"} <= access[0].keys()
    mine = [r for r in access if r["request_id"] == "trace-me.42"]
    assert len(mine) == 1 and mine[0]["path"] == "/healthz" and mine[0]["status"] == 200
    ws_lines = [r for r in records if "WebSocket" in r["message"]]
    assert ws_lines and all(r["request_id"] != "-" for r in ws_lines)
    assert len({r["request_id"] for r in ws_lines}) >= 2  # one id per connection
    assert "Traceback" not in log


def test_serve_root_path_and_log_level(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", extra_args=["--root-path", "/court", "--log-level", "warning"]
    )
    with server:
        status, _, body = call(server.base_url, "GET", "/docs")
        html = body.decode()
        assert status == 200
        assert "/court/openapi.json" in html and "/court/docs-assets/swagger-ui-bundle.js" in html
        assert "cdn" not in html.lower()
        status, _, body = call(server.base_url, "GET", "/openapi.json")
        assert json.loads(body)["servers"] == [{"url": "/court"}]
        status, headers, _ = call(server.base_url, "GET", "/docs-assets/swagger-ui.css")
        assert status == 200 and headers["content-type"].startswith("text/css")
    log = server.logs()
    assert "GET /docs" not in log  # access lines are INFO: below --log-level warning
