"""The clock survives a crash: SIGKILL a real server mid-turn and start it again.

Real processes keep real time, so these tests wait (briefly) for real
deadlines; everything else about time is tested on an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from protocol import verify_entries
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("restart"))
    proc.create_user("faculty", "FACULTY", PASSWORD)
    proc.create_user("pet1", "STUDENT", PASSWORD)
    with proc:
        yield proc


def login(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/login", data={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def running_turn(
    base: str, fac: dict[str, str], pet: dict[str, str], seconds: int
) -> tuple[str, str, int]:
    """A session whose single turn is running; returns (session, turn, deadline_ms)."""
    sid = httpx.post(f"{base}/api/session/create", json={"title": "crash"}, headers=fac).json()[
        "id"
    ]
    httpx.post(
        f"{base}/api/session/{sid}/join", json={"role": "petitioner", "speaker": 1}, headers=pet
    ).raise_for_status()
    httpx.post(f"{base}/api/session/{sid}/start", headers=fac).raise_for_status()
    me = httpx.get(f"{base}/api/auth/me", headers=pet).json()
    body = {
        "session_id": sid,
        "turns": [{"participant_id": str(me["user_id"]), "allowed_seconds": seconds}],
    }
    rnd = httpx.post(f"{base}/api/classroom/rounds", json=body, headers=fac).json()
    httpx.post(f"{base}/api/classroom/rounds/{rnd['id']}/start", headers=fac).raise_for_status()
    turn = rnd["turns"][0]["id"]
    started = httpx.post(f"{base}/api/classroom/turns/{turn}/start", headers=pet).json()
    return sid, turn, int(started["deadline_ms"])


def log(base: str, sid: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(
        f"{base}/api/session/{sid}/logs?limit=10000", headers=headers
    ).json()["entries"]
    return entries


def wait_for_expiry(
    base: str, sid: str, headers: dict[str, str], timeout: float = 15
) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        entries = log(base, sid, headers)
        if any(e["event_type"] == "ROUND_COMPLETED" for e in entries):
            return entries
        time.sleep(0.1)
    raise AssertionError("the turn never expired")


def expiries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["event_type"] == "TURN_TIME_EXPIRED"]


def test_clock_continues_from_the_persisted_deadline(server: ServerProcess) -> None:
    base = server.base_url
    fac, pet = login(base, "faculty"), login(base, "pet1")
    sid, turn, deadline = running_turn(base, fac, pet, seconds=4)
    server.kill()
    server.start()
    s = httpx.get(f"{base}/api/session/{sid}", headers=fac).json()
    t = next(iter(s["state"]["rounds"].values()))["turns"][0]
    assert t["status"] == "running" and t["deadline_ms"] == deadline
    entries = wait_for_expiry(base, sid, fac)
    (exp,) = expiries(entries)
    assert exp["details"]["expired_at_ms"] == deadline
    assert exp["details"]["detected_at_ms"] >= deadline
    assert [e["event_type"] for e in entries][-3:] == [
        "TURN_TIME_EXPIRED",
        "TURN_AUTO_SUBMITTED",
        "ROUND_COMPLETED",
    ]
    assert verify_entries(entries).valid


def test_a_deadline_missed_while_down_expires_at_once_with_its_true_time(
    server: ServerProcess,
) -> None:
    base = server.base_url
    fac, pet = login(base, "faculty"), login(base, "pet1")
    sid, turn, deadline = running_turn(base, fac, pet, seconds=1)
    server.kill()
    while time.time() * 1000 < deadline + 500:  # the server is down past the deadline
        time.sleep(0.05)
    restarted_at = int(time.time() * 1000)
    server.start()
    entries = wait_for_expiry(base, sid, fac, timeout=5)
    (exp,) = expiries(entries)
    assert exp["details"]["expired_at_ms"] == deadline  # the truth, not the restart time
    assert exp["details"]["detected_at_ms"] >= restarted_at
    # Another crash and restart does not expire it again.
    server.kill()
    server.start()
    time.sleep(0.5)
    assert len(expiries(log(base, sid, fac))) == 1
    assert verify_entries(log(base, sid, fac)).valid
