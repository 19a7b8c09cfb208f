"""PostgreSQL goes away under a running node: 503 / ``unavailable``, nothing half-written,
and the node recovers by itself when the database returns."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from websockets.sync.client import connect

from protocol import verify_entries
from tests.integration.private_pg import PrivatePostgres
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, PrivatePostgres]]:
    base = tmp_path_factory.mktemp("pgdown")
    pg = PrivatePostgres(base).init()
    pg.start()
    node = ServerProcess(base / "node", env={"DATABASE_URL": pg.url})
    try:
        node.create_user("judge", "JUDGE", PASSWORD)
        with node:
            yield node, pg
    finally:
        pg.remove()


def test_commands_fail_with_503_then_the_node_recovers(
    setup: tuple[ServerProcess, PrivatePostgres],
) -> None:
    node, pg = setup
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        _scenario(http, node, pg)


def _scenario(http: httpx.Client, node: ServerProcess, pg: PrivatePostgres) -> None:
    tok = http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD}).json()[
        "access_token"
    ]
    h = {"Authorization": f"Bearer {tok}"}
    sid = http.post("/api/session/create", json={}, headers=h).json()["id"]
    http.post(f"/api/session/{sid}/start", headers=h).raise_for_status()
    with connect(f"{node.ws_base}/ws/sessions/{sid}") as ws:
        ws.send(json.dumps({"type": "hello", "v": 1, "token": tok, "as": "observer"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        while json.loads(ws.recv(timeout=30)).get("event_type") != "OBSERVER_JOINED":
            pass  # the welcome does not wait for the arrival to be logged
        before = http.get(f"/api/session/{sid}", headers=h).json()["head"]

        pg.stop()
        r = http.post(f"/api/session/{sid}/log", json={"event_type": "LOST"}, headers=h)
        assert r.status_code == 503 and r.json()["code"] == "unavailable"
        assert r.headers.get("retry-after")
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        assert http.get("/healthz").status_code == 200  # the process itself is fine
        ws.send(json.dumps({"type": "log", "id": 1, "event_type": "LOST"}))
        while True:
            msg = json.loads(ws.recv(timeout=30))
            if msg["type"] == "error":
                break
        assert msg["code"] == "unavailable" and msg["temporary"] is True and msg["ref"] == 1

        pg.start()
        end = time.monotonic() + 30
        while True:  # no restart of the node: it reconnects by itself
            r = http.post(f"/api/session/{sid}/log", json={"event_type": "BACK"}, headers=h)
            if r.status_code == 200 or time.monotonic() > end:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert http.get("/readyz").status_code == 200
        entries = http.get(f"/api/session/{sid}/logs", headers=h).json()["entries"]
        # Nothing half-written: the refused commands left no entry and no gap.
        assert [e["event_type"] for e in entries[before["sequence_number"] :]] == ["BACK"]
        assert verify_entries(entries).valid
        while True:
            msg = json.loads(ws.recv(timeout=30))
            if msg["type"] == "event" and msg["event_type"] == "BACK":
                break
