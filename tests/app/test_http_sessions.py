"""Phase 19 over HTTP through the real ASGI app: routes, roles, flags, the log."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from protocol import verify_entries
from server.http.app import create_app
from store import SessionStore
from store._schema import session_log_entries
from tests.conftest import Court, make_settings

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def test_login_and_me(court: Court) -> None:
    r = court.client.post("/api/auth/login", data={"username": "judge", "password": "password123"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "JUDGE" and body["expires_in"] > 0
    me = court.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["username"] == "judge"


@pytest.mark.parametrize("username,password", [("judge", "wrong"), ("ghost", "password123")])
def test_login_refused(court: Court, username: str, password: str) -> None:
    r = court.client.post("/api/auth/login", data={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json() == {"detail": "wrong username or password", "code": "unauthorized"}


def test_login_needs_the_form_fields(court: Court) -> None:
    r = court.client.post("/api/auth/login", data={"username": "judge"})
    assert r.status_code == 422 and r.json()["code"] == "bad_request"


def test_bad_and_expired_tokens(court: Court) -> None:
    assert court.client.get("/api/auth/me").status_code == 401
    r = court.client.get("/api/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid token"
    expired = jwt.encode(
        {"sub": "1", "role": "JUDGE", "exp": int(time.time()) - 10},
        "test-secret-key-" + "x" * 32,
        algorithm="HS256",
    )
    r = court.client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["detail"] == "token expired"
    forged = jwt.encode(
        {"sub": "1", "role": "ADMIN", "exp": int(time.time()) + 60},
        "another-key" * 4,
        algorithm="HS256",
    )
    assert (
        court.client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def test_session_lifecycle(court: Court) -> None:
    sid = court.new_session(title="Acme v. Zenith")
    s = court.get(f"/api/session/{sid}").json()
    assert s["status"] == "pending" and s["head"]["sequence_number"] == 1
    assert s["state"]["title"] == "Acme v. Zenith"
    for action, status in [
        ("start", "active"),
        ("pause", "paused"),
        ("resume", "active"),
        ("complete", "completed"),
    ]:
        r = court.post(f"/api/session/{sid}/{action}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    s = court.get(f"/api/session/{sid}").json()
    assert s["started_at"] and s["ended_at"] and len(s["integrity_hash"]) == 64


@pytest.mark.parametrize("path", ["pause", "resume", "complete"])
def test_illegal_transition_is_409_and_writes_nothing(court: Court, path: str) -> None:
    sid = court.new_session()
    r = court.post(f"/api/session/{sid}/{path}")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert court.get(f"/api/session/{sid}").json()["head"]["sequence_number"] == 1


def test_completed_session_refuses_every_write(court: Court) -> None:
    sid = court.new_session()
    court.post(f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1})
    court.post(f"/api/session/{sid}/start")
    court.post(f"/api/session/{sid}/complete")
    head = court.get(f"/api/session/{sid}").json()["head"]
    for user, path, body in [
        ("judge", "start", None),
        ("judge", "pause", None),
        ("judge", "resume", None),
        ("judge", "complete", None),
        ("judge", "log", {"event_type": "NOTE", "details": {}}),
        ("pet2", "join", {"role": "petitioner", "speaker": 2}),
        ("pet1", "leave", None),
        (None, "observe", None),
    ]:
        r = court.post(f"/api/session/{sid}/{path}", user, json=body)
        assert r.status_code == 409, (path, r.text)
    assert court.get(f"/api/session/{sid}").json()["head"] == head


@pytest.mark.parametrize("user,status", [("student", 403), (None, 401)])
def test_rbac_for_control_routes(court: Court, user: str | None, status: int) -> None:
    sid = court.new_session()
    for path in ["start", "pause", "resume", "complete"]:
        assert court.post(f"/api/session/{sid}/{path}", user).status_code == status
    assert court.post("/api/session/create", user, json={}).status_code == status
    assert (
        court.post(f"/api/session/{sid}/log", user, json={"event_type": "NOTE"}).status_code
        == status
    )


@pytest.mark.parametrize("user", ["admin", "judge", "faculty"])
def test_control_roles(court: Court, user: str) -> None:
    sid = court.new_session(user)
    assert court.post(f"/api/session/{sid}/start", user).status_code == 200


@pytest.mark.parametrize("path", ["", "/participants", "/logs", "/replay", "/verify", "/export"])
def test_reads_need_sign_in(court: Court, path: str) -> None:
    sid = court.new_session()
    assert court.get(f"/api/session/{sid}{path}", None).status_code == 401
    assert court.get(f"/api/session/{sid}{path}", "student").status_code == 200


@pytest.mark.parametrize("path", ["", "/participants", "/logs", "/replay", "/verify", "/export"])
def test_missing_session_is_404(court: Court, path: str) -> None:
    r = court.get(f"/api/session/00000000-0000-4000-8000-00000000dead{path}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_commands_on_a_missing_session_are_404(court: Court) -> None:
    missing = "00000000-0000-4000-8000-00000000dead"
    for path in ["start", "observe", "log"]:
        r = court.post(f"/api/session/{missing}/{path}", json={"event_type": "NOTE"})
        assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("bad", ["nope", "1" * 40, "00000000-0000-4000-8000-00000000dea"])
def test_malformed_session_ids_are_422(court: Court, bad: str) -> None:
    for path in ["", "/logs", "/verify"]:
        r = court.get(f"/api/session/{bad}{path}")
        assert r.status_code == 422 and r.json()["code"] == "bad_request", r.text
    r = court.post(f"/api/session/{bad}/start")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "session_id"]


def test_participants_and_observers(court: Court) -> None:
    sid = court.new_session()
    assert (
        court.post(
            f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1}
        ).status_code
        == 200
    )
    assert (
        court.post(f"/api/session/{sid}/join", "judge", json={"role": "judge"}).status_code == 200
    )
    r = court.post(f"/api/session/{sid}/join", "student", json={"role": "judge"})
    assert r.status_code == 403
    r = court.post(f"/api/session/{sid}/join", "pet2", json={"role": "petitioner", "speaker": 1})
    assert r.status_code == 409 and "taken" in r.json()["detail"]
    r = court.post(f"/api/session/{sid}/join", "pet2", json={"role": "wizard"})
    assert r.status_code == 422
    obs = court.post(f"/api/session/{sid}/observe", None)
    assert obs.status_code == 200
    oid, token = (obs.json()["result"][k] for k in ("observation_id", "leave_token"))
    court.post(f"/api/session/{sid}/observe", "student")
    body = {"observation_id": oid, "leave_token": token}
    assert court.post(f"/api/session/{sid}/leave", None, json=body).status_code == 200
    court.post(f"/api/session/{sid}/leave", "pet1")
    body = court.get(f"/api/session/{sid}/participants").json()
    by_role = {p["role"]: p for p in body["participants"]}
    assert by_role["petitioner"]["status"] == "disconnected" and by_role["petitioner"]["left_at"]
    assert by_role["judge"]["status"] == "connected" and by_role["judge"]["connection_count"] == 1
    assert body["observers"] == {"total": 2, "current": 1}


def test_only_the_observer_may_end_its_observation(court: Court) -> None:
    """The log shows every observation id to every observer: the id alone ends none."""
    sid, other = court.new_session(), court.new_session()
    mine = court.post(f"/api/session/{sid}/observe", None).json()["result"]
    theirs = court.post(f"/api/session/{sid}/observe", "student").json()["result"]
    elsewhere = court.post(f"/api/session/{other}/observe", None).json()["result"]

    def left() -> list[dict[str, Any]]:
        entries = court.get(f"/api/session/{sid}/logs").json()["entries"]
        return [e for e in entries if e["event_type"] == "OBSERVER_LEFT"]

    oid = theirs["observation_id"]
    for body in (
        {"observation_id": oid},  # read from the log
        {"observation_id": oid, "leave_token": mine["leave_token"]},  # another id's token
        {"observation_id": oid, "leave_token": elsewhere["leave_token"]},
        {"observation_id": elsewhere["observation_id"], "leave_token": elsewhere["leave_token"]},
    ):
        r = court.post(f"/api/session/{sid}/leave", None, json=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (body, r.text)
    r = court.post(
        f"/api/session/{sid}/leave", None, json={"observation_id": oid, "leave_token": "x"}
    )
    assert r.status_code == 422
    assert left() == []
    assert court.get(f"/api/session/{sid}/participants").json()["observers"]["current"] == 2

    body = {"observation_id": oid, "leave_token": theirs["leave_token"]}
    assert court.post(f"/api/session/{sid}/leave", None, json=body).status_code == 200
    assert [e["details"]["observation_ids"] for e in left()] == [[oid]]


def test_anonymous_observers_may_be_refused(court: Court) -> None:
    sid = court.new_session(allow_anonymous_observers=False)
    assert court.post(f"/api/session/{sid}/observe", None).status_code == 403
    assert court.post(f"/api/session/{sid}/observe", "student").status_code == 200


def test_custom_log_events(court: Court) -> None:
    sid = court.new_session()
    r = court.post(
        f"/api/session/{sid}/log",
        json={"event_type": "OBJECTION", "details": {"by": "respondent", "n": 2}},
    )
    assert r.status_code == 200 and r.json()["entries"] == [2]
    assert (
        court.post(f"/api/session/{sid}/log", json={"event_type": "SESSION_STARTED"}).status_code
        == 422
    )
    assert (
        court.post(f"/api/session/{sid}/log", json={"event_type": "lower case"}).status_code == 422
    )
    # Well-formed JSON the log refuses (no floats in the chain): a domain rule, 422.
    r = court.post(f"/api/session/{sid}/log", json={"event_type": "N", "details": {"x": 1.5}})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    logs = court.get(f"/api/session/{sid}/logs").json()
    assert [e["event_type"] for e in logs["entries"]] == ["SESSION_CREATED", "OBJECTION"]
    assert logs["entries"][1]["details"] == {"by": "respondent", "n": 2}
    assert logs["entries"][1]["actor_id"] == str(court.user_ids["judge"])


def test_logs_replay_from_a_sequence(court: Court) -> None:
    sid = court.new_session()
    for i in range(6):
        court.post(f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"i": i}})
    replay = court.get(f"/api/session/{sid}/replay?from_sequence=4").json()
    assert [e["sequence_number"] for e in replay["entries"]] == [4, 5, 6, 7]
    assert replay["head"]["sequence_number"] == 7
    page = court.get(f"/api/session/{sid}/logs?from_sequence=2&limit=3").json()
    assert [e["sequence_number"] for e in page["entries"]] == [2, 3, 4]
    assert court.get(f"/api/session/{sid}/logs?from_sequence=0").status_code == 422
    full = court.get(f"/api/session/{sid}/logs").json()["entries"]
    assert verify_entries(full).valid
    for a, b in zip(full, full[1:], strict=False):
        assert b["previous_hash"] == a["hash"]


def test_verify_and_offline_export(court: Court) -> None:
    sid = court.new_session()
    court.post(f"/api/session/{sid}/start")
    court.post(
        f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"text": "Zoë — ✓"}}
    )
    v = court.get(f"/api/session/{sid}/verify").json()
    assert v == {
        "valid": True,
        "entries": 3,
        "head_hash": v["head_hash"],
        "first_invalid_sequence": None,
    }
    r = court.get(f"/api/session/{sid}/export")
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in r.content.splitlines()]
    assert len(lines) == 3
    offline = verify_entries(lines)
    assert offline.valid and offline.head_hash == v["head_hash"]


def tamper(url: str, session_id: str, seq: int, **values: Any) -> None:
    """Edit a row behind the server's back, as an attacker with database access would."""

    async def run() -> None:
        store = SessionStore(url)
        try:
            async with store.write_engine.begin() as c:
                await c.execute(
                    update(session_log_entries)
                    .where(
                        session_log_entries.c.session_id == session_id,
                        session_log_entries.c.sequence_number == seq,
                    )
                    .values(**values)
                )
        finally:
            await store.close()

    asyncio.run(run())


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"details": '{"i": 99}'}, id="details"),
        pytest.param({"actor_id": "1"}, id="actor"),
        pytest.param({"timestamp": "2020-01-01T00:00:00.000000+00:00"}, id="timestamp"),
        pytest.param({"hash_chain": "f" * 64}, id="hash"),
    ],
)
def test_verify_names_the_edited_row(
    court_factory: Callable[..., Court], db_url: str, values: dict[str, Any]
) -> None:
    court = court_factory(db_url)
    sid = court.new_session()
    for i in range(5):
        court.post(f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"i": i}})
    assert court.get(f"/api/session/{sid}/verify").json()["valid"]
    tamper(db_url, sid, 4, **values)
    v = court.get(f"/api/session/{sid}/verify").json()
    assert v["valid"] is False and v["first_invalid_sequence"] == 4 and v["entries"] == 4


def test_integrity_hash_matches_a_recomputation(court: Court) -> None:
    from server.live.courtroom import integrity_hash
    from server.rules.state import SessionState
    from store import Head

    sid = court.new_session()
    court.post(f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1})
    court.post(f"/api/session/{sid}/start")
    done = court.post(f"/api/session/{sid}/complete").json()
    s = court.get(f"/api/session/{sid}").json()
    state = SessionState.from_dict(s["state"])
    head = Head(s["head"]["sequence_number"], s["head"]["hash"])
    assert done["result"]["integrity_hash"] == s["integrity_hash"] == integrity_hash(state, head)


def test_active_list(court: Court) -> None:
    a, b, c = court.new_session(), court.new_session(), court.new_session()
    court.post(f"/api/session/{a}/start")
    court.post(f"/api/session/{b}/start")
    court.post(f"/api/session/{b}/pause")
    ids = {s["id"] for s in court.get("/api/session/active/list", "student").json()["sessions"]}
    assert ids == {a, b}
    assert c not in ids
    assert court.get("/api/session/active/list", None).status_code == 401


def test_feature_flag_off_is_403(court_factory: Callable[..., Court]) -> None:
    court = court_factory(FEATURE_MOOT_OPERATIONS="false")
    r = court.post("/api/session/create", json={})
    assert r.status_code == 403 and "FEATURE_MOOT_OPERATIONS" in r.json()["detail"]
    assert court.get("/api/session/active/list").status_code == 403


def test_recording_url_needs_its_flag(court_factory: Callable[..., Court]) -> None:
    court = court_factory()
    r = court.post("/api/session/create", json={"recording_url": "https://example.org/r.mp4"})
    assert r.status_code == 403
    on = court_factory(FEATURE_SESSION_RECORDING="true")
    r = on.post("/api/session/create", json={"recording_url": "https://example.org/r.mp4"})
    assert r.status_code == 201 and r.json()["recording_url"] == "https://example.org/r.mp4"


def test_unknown_assignment_is_404_until_scheduled(court: Court) -> None:
    r = court.post("/api/session/create", json={"assignment_id": "12345"})
    assert r.status_code == 404


def test_health_ready_metrics_docs(court: Court) -> None:
    assert court.client.get("/healthz").json() == {"status": "ok"}
    ready = court.client.get("/readyz").json()
    assert ready == {"ready": True, "checks": {"database": "ok", "broker": "ok"}}
    sid = court.new_session()
    court.post(f"/api/session/{sid}/start")
    text = court.client.get("/metrics").text
    assert "courtroom_log_entries_appended_total" in text and "rounds_started_total" in text
    spec = court.client.get("/openapi.json").json()
    assert (
        "/api/session/{session_id}/verify" in spec["paths"] and "/api/auth/login" in spec["paths"]
    )
    assert court.client.get("/docs").status_code == 200


def test_unknown_route_and_method(court: Court) -> None:
    r = court.client.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = court.client.get("/api/session/create")  # a POST route, or a session called "create"
    assert r.status_code in (401, 404, 405)


def test_the_heap_is_frozen_while_serving_and_given_back_on_shutdown(tmp_path: Path) -> None:
    for flag, frozen in (("1", True), ("0", False)):
        settings = make_settings(tmp_path / flag, COURTROOM_GC_FREEZE=flag)
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            assert (gc.get_freeze_count() > 0) is frozen
        assert gc.get_freeze_count() == 0
