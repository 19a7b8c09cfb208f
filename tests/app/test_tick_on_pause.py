"""docs/protocol.md: a tick every interval while a clock runs, exactly one on pause.

The hub's own ticker is parked (a one-hour interval); the test plays it by
calling ``Hub.tick_all`` on the app's event loop at each interval of the
``ManualClock``, which is what the ticker does, so no real time passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.app.test_rounds_live import T0, next_event
from tests.conftest import Court
from timers import ManualClock

INTERVAL = 1_000


def test_a_paused_session_ticks_once(court_factory: Callable[..., Court]) -> None:
    clock = ManualClock(T0)
    court = court_factory(clock=clock, COURTROOM_TICK_MS=str(3_600_000))
    hub = court.services.hub

    def ticker() -> int:
        """One beat of the hub's ticker at the clock's time; how many channels ticked."""
        ticked: int = court.client.portal.call(hub.tick_all, clock())  # type: ignore[union-attr]
        return ticked

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
    with court.client.websocket_connect(f"/ws/sessions/{sid}") as obs:
        court.hello(obs)
        court.post(f"/api/classroom/rounds/{rnd['id']}/start", "faculty")
        next_event(obs, "ROUND_STARTED")
        court.post(f"/api/classroom/turns/{rnd['turns'][0]['id']}/start", "pet1")
        next_event(obs, "TURN_STARTED")
        first: dict[str, Any] = _frame(obs)  # the clock event's own tick
        assert first["type"] == "tick" and first["running"] is True

        # Running: one tick per interval, counting down.
        for beat in range(1, 4):
            clock.advance(INTERVAL)
            assert ticker() == 1
            tick = _frame(obs)
            assert tick["type"] == "tick" and tick["remaining_ms"] == 90_000 - beat * INTERVAL

        # Paused: the pause's event and its one tick...
        court.post(f"/api/session/{sid}/pause")
        paused = next_event(obs, "SESSION_PAUSED")
        frozen = _frame(obs)
        assert frozen["type"] == "tick" and frozen["running"] is False
        assert frozen["remaining_ms"] == 87_000
        # ...then 2.5 s and more of paused beats tick nothing.
        for _ in range(10):
            clock.advance(INTERVAL // 4)
            assert ticker() == 0
        for _ in range(3):
            clock.advance(INTERVAL)
            assert ticker() == 0

        # The next frame the observer gets is the resume: no tick came in between.
        court.post(f"/api/session/{sid}/resume")
        resumed = _frame(obs)
        assert resumed["type"] == "event" and resumed["event_type"] == "SESSION_RESUMED"
        assert resumed["sequence_number"] == paused["sequence_number"] + 1
        thawed = _frame(obs)
        assert thawed["type"] == "tick" and thawed["running"] is True
        assert thawed["remaining_ms"] == 87_000

        # Running again: it ticks every interval once more.
        clock.advance(INTERVAL)
        assert ticker() == 1
        assert _frame(obs)["remaining_ms"] == 86_000


def _frame(ws: Any) -> dict[str, Any]:
    """The next frame that is not a signed checkpoint (those come at clock changes too)."""
    while True:
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] != "checkpoint":
            return msg
