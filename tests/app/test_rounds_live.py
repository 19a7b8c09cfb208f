"""A full four-speaker round over HTTP and WebSockets, on a clock the test drives."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from protocol import verify_entries
from tests.app.test_ws import next_of
from tests.conftest import Court
from timers import ManualClock

T0 = 1_800_000_000_000


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll (not sleep through the turn): the server reacts to the driven clock."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def next_event(ws: Any, event_type: str) -> dict[str, Any]:
    for _ in range(200):
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] == "event" and msg["event_type"] == event_type:
            return msg
    raise AssertionError(event_type)


def next_tick(ws: Any, **match: Any) -> dict[str, Any]:
    for _ in range(500):
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] == "tick" and all(msg[k] == v for k, v in match.items()):
            return msg
    raise AssertionError(f"no tick {match}")


@pytest.fixture
def live(court_factory: Callable[..., Court]) -> tuple[Court, ManualClock]:
    clock = ManualClock(T0)
    return court_factory(clock=clock, COURTROOM_TICK_MS="50"), clock


def test_four_speaker_round(live: tuple[Court, ManualClock]) -> None:
    court, clock = live
    sid = court.new_session(title="Acme v. Zenith")
    for user, role, n in [
        ("pet1", "petitioner", 1),
        ("pet2", "petitioner", 2),
        ("res1", "respondent", 1),
        ("res2", "respondent", 2),
    ]:
        assert (
            court.post(
                f"/api/session/{sid}/join", user, json={"role": role, "speaker": n}
            ).status_code
            == 200
        )
    court.post(f"/api/session/{sid}/start")
    r = court.post(
        "/api/classroom/rounds",
        "faculty",
        json={"session_id": sid, "round_type": "PETITIONER_MAIN", "default_turn_seconds": 60},
    )
    assert r.status_code == 201, r.text
    rnd = r.json()
    turns = rnd["turns"]
    ids = court.user_ids
    assert [t["participant_id"] for t in turns] == [
        str(ids[u]) for u in ("pet1", "res1", "pet2", "res2")
    ]
    assert rnd["status"] == "PENDING" and all(t["allowed_seconds"] == 60 for t in turns)

    with (
        court.client.websocket_connect(f"/ws/sessions/{sid}") as obs,
        court.client.websocket_connect(f"/ws/sessions/{sid}") as spk,
    ):
        court.hello(obs)
        court.hello(spk, user="pet1", as_="participant", role="petitioner", speaker=1)
        started = court.post(f"/api/classroom/rounds/{rnd['id']}/start", "faculty").json()
        assert started["current_speaker_participant_id"] == str(ids["pet1"])
        next_event(obs, "ROUND_STARTED")

        # Turn 1: petitioner #1 starts over the socket, the clock ticks, a pause freezes it.
        spk.send_json({"type": "turn.start", "id": 1, "turn_id": turns[0]["id"]})
        ts = next_event(obs, "TURN_STARTED")
        assert ts["details"]["deadline_ms"] == T0 + 60_000
        tick = next_tick(obs, turn_id=turns[0]["id"], running=True)
        assert tick["remaining_ms"] == 60_000 and tick["server_time_ms"] == T0
        clock.advance(12_345)
        next_tick(obs, remaining_ms=47_655)
        court.post(f"/api/session/{sid}/pause")
        paused = next_tick(obs, running=False)
        assert paused["remaining_ms"] == 47_655
        clock.advance(600_000)  # a long pause costs the speaker nothing
        court.post(f"/api/session/{sid}/resume")
        resumed = next_event(obs, "SESSION_RESUMED")
        assert resumed["details"]["deadline_ms"] == clock() + 47_655
        next_tick(obs, running=True, remaining_ms=47_655)
        clock.advance(7_655)
        spk.send_json(
            {
                "type": "turn.submit",
                "id": 2,
                "turn_id": turns[0]["id"],
                "transcript": "May it please the court",
            }
        )
        sub = next_event(obs, "TURN_SUBMITTED")
        assert sub["details"]["remaining_ms"] == 40_000 and sub["details"]["word_count"] == 5
        adv = next_event(obs, "ROUND_ADVANCED")
        assert adv["details"]["current_turn_id"] == turns[1]["id"]

        # Turn 2: respondent #1 lets the time run out; the server advances by itself.
        r = court.post(f"/api/classroom/turns/{turns[1]['id']}/start", "res1")
        assert r.status_code == 200 and r.json()["remaining_seconds"] == 60
        deadline = clock() + 60_000
        clock.advance(60_000)  # straight to the deadline
        exp = next_event(obs, "TURN_TIME_EXPIRED")
        assert exp["details"]["expired_at_ms"] == deadline and exp["actor_id"] is None
        assert next_event(obs, "TURN_AUTO_SUBMITTED")["details"]["transcript"] == ""
        assert next_event(obs, "ROUND_ADVANCED")["details"]["current_turn_id"] == turns[2]["id"]

        # Turn 3: a student may not act on another's turn; faculty force-submits.
        r = court.post(f"/api/classroom/turns/{turns[2]['id']}/start", "res2")
        assert r.status_code == 409 and "Not current speaker" in r.json()["detail"]
        court.post(f"/api/classroom/turns/{turns[2]['id']}/start", "pet2")
        r = court.post(
            f"/api/classroom/turns/{turns[2]['id']}/force_submit",
            "faculty",
            json={"transcript": "", "reason": "connection lost"},
        )
        assert r.status_code == 200 and r.json()["next_turn_id"] == turns[3]["id"]
        next_event(obs, "TURN_FORCE_SUBMITTED")

        # Turn 4: the last speaker submits and the round completes.
        court.post(f"/api/classroom/turns/{turns[3]['id']}/start", "res2")
        clock.advance(30_000)
        r = court.post(
            f"/api/classroom/turns/{turns[3]['id']}/submit", "res2", json={"transcript": "We rest."}
        )
        assert r.status_code == 200 and r.json()["round_status"] == "COMPLETED"
        next_event(obs, "ROUND_COMPLETED")

    final = court.get(f"/api/classroom/rounds/{rnd['id']}").json()
    assert final["status"] == "COMPLETED" and final["current_turn_id"] is None
    assert [t["status"] for t in final["turns"]] == [
        "submitted",
        "auto_submitted",
        "force_submitted",
        "submitted",
    ]
    audit = court.get(f"/api/classroom/turns/{turns[1]['id']}/audit").json()["audit"]
    assert [a["action"] for a in audit] == ["START", "TIME_EXPIRED", "AUTO_SUBMIT"]
    listed = court.get(f"/api/classroom/sessions/{sid}/rounds").json()["rounds"]
    assert [x["id"] for x in listed] == [rnd["id"]]
    log = court.get(f"/api/session/{sid}/logs?limit=1000").json()["entries"]
    assert verify_entries(log).valid
    metrics = court.client.get("/metrics").text
    for name in (
        "rounds_started_total",
        "rounds_completed_total",
        "turns_submitted_total",
        "turns_timed_out_total",
        "avg_turn_duration_seconds",
        "percent_turns_late",
    ):
        assert name in metrics


def test_round_routes_refuse_bad_input(live: tuple[Court, ManualClock]) -> None:
    court, _ = live
    sid = court.new_session()
    r = court.post("/api/classroom/rounds", "faculty", json={"session_id": sid})
    assert r.status_code == 422 and "needs petitioner #1" in r.json()["detail"]
    assert (
        court.post("/api/classroom/rounds", "student", json={"session_id": sid}).status_code == 403
    )
    missing = "00000000-0000-4000-8000-00000000dead"
    assert (
        court.post("/api/classroom/rounds", "faculty", json={"session_id": missing}).status_code
        == 404
    )
    assert (
        court.post("/api/classroom/rounds", "faculty", json={"session_id": "missing"}).status_code
        == 422
    )
    r = court.post(
        "/api/classroom/rounds", "faculty", json={"session_id": sid, "default_turn_seconds": 0}
    )
    assert r.status_code == 422
    assert court.get(f"/api/classroom/rounds/{missing}").status_code == 404
    assert court.post(f"/api/classroom/turns/{missing}/start", "pet1").status_code == 404
    assert court.get("/api/classroom/rounds/nope").status_code == 422
    assert court.post("/api/classroom/turns/nope/start", "pet1").status_code == 422
    assert court.get("/api/session/" + sid).json()["head"]["sequence_number"] == 1
    formats = court.get("/api/classroom/formats").json()["formats"]
    assert {f["name"] for f in formats} >= {"seed_default", "moot_standard"}


def test_round_engine_flag_off(court_factory: Callable[..., Court]) -> None:
    court = court_factory(FEATURE_CLASSROOM_ROUND_ENGINE="false")
    assert court.get("/api/classroom/formats").status_code == 403


def test_welcome_carries_the_clock(live: tuple[Court, ManualClock]) -> None:
    court, clock = live
    sid = court.new_session()
    court.post(f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1})
    court.post(f"/api/session/{sid}/start")
    rnd = court.post(
        "/api/classroom/rounds",
        "faculty",
        json={
            "session_id": sid,
            "turns": [{"participant_id": str(court.user_ids["pet1"]), "allowed_seconds": 90}],
        },
    ).json()
    court.post(f"/api/classroom/rounds/{rnd['id']}/start", "faculty")
    court.post(f"/api/classroom/turns/{rnd['turns'][0]['id']}/start", "pet1")
    clock.advance(30_000)
    with court.client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        w = court.hello(ws)
        turn = w["session"]["rounds"][rnd["id"]]["turns"][0]
        assert turn["status"] == "running" and turn["deadline_ms"] == T0 + 90_000
        assert w["server_time_ms"] == T0 + 30_000
        tick = next_of(ws, "tick")
        assert tick["remaining_ms"] == 60_000 and tick["running"] is True
