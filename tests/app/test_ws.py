"""The WebSocket endpoint (PROTOCOL.md section 2) through the real ASGI app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import pytest
from starlette.websockets import WebSocketDisconnect

from protocol import verify_entries
from tests.conftest import Court


def ws_url(sid: str) -> str:
    return f"/ws/sessions/{sid}"


def next_of(ws: Any, kind: str, limit: int = 50) -> dict[str, Any]:
    """The next frame of ``kind``, skipping ticks and other kinds."""
    for _ in range(limit):
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} frame")


def events(ws: Any, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = ws.receive_json()
        if msg["type"] == "event":
            out.append(msg)
    return out


def closed_with(ws: Any) -> int:
    """Read until the server closes; return the close code."""
    with pytest.raises(WebSocketDisconnect) as info:
        for _ in range(20):
            ws.receive_json()
    return info.value.code


# --- opening -------------------------------------------------------------------


def test_welcome_snapshot_and_head(court: Court) -> None:
    sid = court.new_session(title="Welcome")
    court.post(f"/api/session/{sid}/start")
    with court.client.websocket_connect(ws_url(sid)) as ws:
        w = court.hello(ws, arrived=False)
        assert w["v"] == 1 and w["recovered"] is None
        assert w["session"]["status"] == "active" and w["session"]["title"] == "Welcome"
        # The welcome does not wait for the observer's own arrival: it follows, live.
        assert w["head"]["sequence_number"] == 2
        assert w["session"]["observers_now"] == 0
        assert w["you"]["as"] == "observer" and w["you"]["observation_id"]
        assert isinstance(w["server_time_ms"], int)
        (joined,) = events(ws, 1)
        assert joined["sequence_number"] == 3 and joined["event_type"] == "OBSERVER_JOINED"
        assert joined["details"]["observation_ids"] == [w["you"]["observation_id"]]
        assert joined["details"]["users"] == {}


def test_events_reach_every_subscriber_in_order(court: Court) -> None:
    sid = court.new_session()
    with (
        court.client.websocket_connect(ws_url(sid)) as a,
        court.client.websocket_connect(ws_url(sid)) as b,
    ):
        court.hello(a)
        court.hello(b, user="student")
        events(a, 1)  # b's OBSERVER_JOINED
        for i in range(5):
            court.post(f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"i": i}})
        got_a = events(a, 5)
        got_b = events(b, 5)
        assert [e["details"]["i"] for e in got_a] == list(range(5))
        assert [e["sequence_number"] for e in got_a] == [e["sequence_number"] for e in got_b]
        seqs = [e["sequence_number"] for e in got_a]
        assert seqs == list(range(seqs[0], seqs[0] + 5))
        # An event minus its type is a verifiable entry.
        entry = {k: v for k, v in got_a[0].items() if k != "type"}
        assert set(entry) == {
            "session_id",
            "sequence_number",
            "timestamp",
            "event_type",
            "actor_id",
            "details",
            "previous_hash",
            "hash",
        }


def test_participant_hello_joins_and_close_starts_the_grace(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as judge:
        court.hello(judge, user="judge", as_="participant", role="judge")
        with court.client.websocket_connect(ws_url(sid)) as pet:
            w = court.hello(pet, user="pet1", as_="participant", role="petitioner", speaker=1)
            uid = str(court.user_ids["pet1"])
            assert w["session"]["participants"][uid]["status"] == "connected"
            joined = events(judge, 1)[0]
            assert joined["event_type"] == "PARTICIPANT_JOINED" and joined["actor_id"] == uid
            with court.client.websocket_connect(ws_url(sid)) as second_tab:
                court.hello(
                    second_tab, user="pet1", as_="participant", role="petitioner", speaker=1
                )
                assert events(judge, 1)[0]["event_type"] == "PARTICIPANT_RECONNECTED"
            # One of two sockets closed: the user is still here, nothing is logged.
            court.post(f"/api/session/{sid}/log", json={"event_type": "MARK"})
            assert events(judge, 1)[0]["event_type"] == "MARK"
        gone = events(judge, 1)[0]
        assert gone["event_type"] == "PARTICIPANT_RECONNECTING" and gone["actor_id"] == uid
        assert gone["details"]["grace_until_ms"] > 0
        with court.client.websocket_connect(ws_url(sid)) as pet:
            court.hello(pet, user="pet1", as_="participant", role="petitioner", speaker=1)
            back = events(judge, 1)[0]
            assert (
                back["event_type"] == "PARTICIPANT_RECONNECTED"
                and back["details"]["connection_count"] == 3
            )
            pet.send_json({"type": "leave", "id": 1})
            assert next_of(pet, "reply")["result"] == {"left": True}
            assert closed_with(pet) == 1000
        assert events(judge, 1)[0]["event_type"] == "PARTICIPANT_LEFT"
    parts = court.get(f"/api/session/{sid}/participants").json()["participants"]
    assert {p["role"]: p["connection_count"] for p in parts}["petitioner"] == 3


def test_grace_runs_out_on_the_servers_clock(court_factory: Callable[..., Court]) -> None:
    from timers import ManualClock

    clock = ManualClock(1_800_000_000_000)
    court = court_factory(clock=clock, COURTROOM_RECONNECT_GRACE_MS="15000")
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as judge:
        court.hello(judge, user="judge", as_="participant", role="judge")
        with court.client.websocket_connect(ws_url(sid)) as pet:
            court.hello(pet, user="pet1", as_="participant", role="petitioner", speaker=1)
            events(judge, 1)
        assert events(judge, 1)[0]["event_type"] == "PARTICIPANT_RECONNECTING"
        clock.advance(15_000)
        gone = events(judge, 1)[0]
        assert gone["event_type"] == "PARTICIPANT_DISCONNECTED" and gone["actor_id"] is not None
        assert gone["details"]["grace_until_ms"] == 1_800_000_015_000
    parts = court.get(f"/api/session/{sid}/participants").json()["participants"]
    assert {p["role"]: p["status"] for p in parts}["petitioner"] == "disconnected"


def test_a_dead_nodes_connections_are_swept(court_factory: Callable[..., Court]) -> None:
    """Another node crashed holding a participant's and an observer's sockets."""
    import asyncio as aio

    from store import ClusterStore, SessionStore

    court = court_factory(COURTROOM_NODE_TTL_MS="400", COURTROOM_RECONNECT_GRACE_MS="0")
    sid = court.new_session()
    uid = str(court.user_ids["pet1"])
    court.post(f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1})
    obs = court.post(f"/api/session/{sid}/observe", None).json()["result"]["observation_id"]
    url = court.services.settings.database_url

    async def ghost() -> None:
        store = SessionStore(url)
        cluster = ClusterStore(store)
        try:
            await cluster.heartbeat("ghost-node", 1)  # last heard of in 1970
            for kind, user, oid in (("participant", uid, None), ("observer", None, obs)):
                await cluster.add_connection(
                    connection_id=f"00000000-0000-4000-8000-0000000000{len(kind):02d}",
                    session_id=sid,
                    node="ghost-node",
                    kind=kind,
                    user_id=user,
                    observation_id=oid,
                    now=1,
                )
        finally:
            await store.close()

    aio.run(ghost())
    with court.client.websocket_connect(ws_url(sid)) as judge:
        court.hello(judge, user="judge", arrived=False)
        swept: set[str] = set()
        while len(swept) < 2:  # the judge's own arrival may come in between
            swept |= {e["event_type"] for e in events(judge, 1)} - {"OBSERVER_JOINED"}
    assert swept == {"PARTICIPANT_DISCONNECTED", "OBSERVER_LEFT"}
    body = court.get(f"/api/session/{sid}/participants").json()
    assert body["participants"][0]["status"] == "disconnected"


# --- commands ------------------------------------------------------------------


def test_commands_get_replies_and_typed_errors(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        court.hello(ws, user="judge", as_="participant", role="judge")
        ws.send_json({"type": "session.start", "id": 7})
        started = next_of(ws, "event")
        assert started["event_type"] == "SESSION_STARTED"
        reply = next_of(ws, "reply")
        assert reply["ref"] == 7 and reply["ok"] is True
        assert reply["result"]["entries"] == [started["sequence_number"]]
        ws.send_json({"type": "session.start", "id": 8})
        err = next_of(ws, "error")
        assert err == {
            "type": "error",
            "ref": 8,
            "code": "conflict",
            "message": "cannot start a session that is active",
            "temporary": False,
        }
        ws.send_json(
            {"type": "log", "id": 9, "event_type": "OBJECTION", "details": {"ground": "hearsay"}}
        )
        assert next_of(ws, "event")["details"] == {"ground": "hearsay"}
        ws.send_json({"type": "ping", "id": 10})
        pong = next_of(ws, "pong")
        assert pong["ref"] == 10 and pong["server_time_ms"] > 0


def test_observer_commands_are_forbidden(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        court.hello(ws)
        ws.send_json({"type": "session.start", "id": 1})
        err = next_of(ws, "error")
        assert err["code"] == "forbidden" and err["ref"] == 1
    assert court.get(f"/api/session/{sid}").json()["status"] == "pending"


BAD_FRAMES = [
    pytest.param("{not json", "bad_request", None, id="malformed-json"),
    pytest.param('["a list"]', "bad_request", None, id="not-an-object"),
    pytest.param('{"type": "fly", "id": 3}', "bad_request", 3, id="unknown-type"),
    pytest.param(
        '{"type": "round.start", "id": 4, "round_id": 17}', "bad_request", 4, id="wrong-field-type"
    ),
    pytest.param(
        '{"type": "log", "id": 5, "event_type": "NOTE", "details": {"x": 0.5}}',
        "bad_request",
        5,
        id="float",
    ),
    pytest.param(
        '{"type": "hello", "v": 1, "as": "observer", "id": 6}', "bad_request", 6, id="second-hello"
    ),
    pytest.param(
        '{"type": "turn.start", "id": 7, "turn_id": "nope"}', "not_found", 7, id="missing-turn"
    ),
]


@pytest.mark.parametrize("frame,code,ref", BAD_FRAMES)
def test_bad_input_is_refused_and_harms_no_one(
    court: Court, frame: str, code: str, ref: int | None
) -> None:
    sid = court.new_session()
    court.post(f"/api/session/{sid}/start")
    with (
        court.client.websocket_connect(ws_url(sid)) as bad,
        court.client.websocket_connect(ws_url(sid)) as good,
    ):
        court.hello(bad, user="judge", as_="participant", role="judge")
        court.hello(good)
        head = court.get(f"/api/session/{sid}").json()["head"]
        bad.send_text(frame)
        err = next_of(bad, "error")
        assert err["code"] == code and err["ref"] == ref
        assert court.get(f"/api/session/{sid}").json()["head"] == head  # nothing written
        # The offender's connection still works, and so does its neighbour's.
        bad.send_json({"type": "ping", "id": 99})
        assert next_of(bad, "pong")["ref"] == 99
        court.post(f"/api/session/{sid}/log", json={"event_type": "AFTER"})
        assert next_of(good, "event")["event_type"] == "AFTER"


def test_binary_frames_are_refused(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        court.hello(ws)
        ws.send_bytes(b'{"type": "ping"}')
        assert next_of(ws, "error")["code"] == "bad_request"


def test_rate_limit(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        court.hello(ws)
        for i in range(100):
            ws.send_json({"type": "ping", "id": i})
        codes = []
        for _ in range(100):
            msg = ws.receive_json()
            codes.append(msg["type"] if msg["type"] == "pong" else msg["code"])
        assert "rate_limited" in codes and codes[0] == "pong"


# --- close codes -----------------------------------------------------------------


def expired_token(court: Court) -> str:
    return jwt.encode(
        {"sub": str(court.user_ids["judge"]), "role": "JUDGE", "exp": int(time.time()) - 5},
        "test-secret-key-" + "x" * 32,
        algorithm="HS256",
    )


@pytest.mark.parametrize(
    "hello,code",
    [
        pytest.param({"type": "ping", "id": 1}, 1008, id="no-hello"),
        pytest.param({"type": "hello", "v": 9, "as": "observer"}, 1008, id="bad-version"),
        pytest.param(
            {"type": "hello", "v": 1, "as": "observer", "token": "garbage"}, 4401, id="bad-token"
        ),
        pytest.param(
            {"type": "hello", "v": 1, "as": "participant", "role": "petitioner"},
            4401,
            id="participant-needs-token",
        ),
        pytest.param("EXPIRED", 4401, id="expired-token"),
        pytest.param(
            {"type": "hello", "v": 1, "as": "participant", "role": "judge", "token": "STUDENT"},
            4403,
            id="role-not-allowed",
        ),
    ],
)
def test_opening_refusals_close_with_their_code(court: Court, hello: Any, code: int) -> None:
    sid = court.new_session()
    if hello == "EXPIRED":
        hello = {"type": "hello", "v": 1, "as": "observer", "token": expired_token(court)}
    elif hello.get("token") == "STUDENT":
        hello["token"] = court.token("student")
    with court.client.websocket_connect(ws_url(sid)) as ws:
        ws.send_json(hello)
        first = ws.receive_json()
        assert first["type"] == "error"
        assert closed_with(ws) == code
    assert court.get(f"/api/session/{sid}").json()["head"]["sequence_number"] == 1


def test_unknown_session_is_4404(court: Court) -> None:
    with court.client.websocket_connect(ws_url("00000000-0000-4000-8000-000000000000")) as ws:
        ws.send_json({"type": "hello", "v": 1, "as": "observer"})
        assert ws.receive_json()["code"] == "not_found"
        assert closed_with(ws) == 4404


def test_anonymous_refused_where_not_allowed(court: Court) -> None:
    sid = court.new_session(allow_anonymous_observers=False)
    with court.client.websocket_connect(ws_url(sid)) as ws:
        ws.send_json({"type": "hello", "v": 1, "as": "observer"})
        assert ws.receive_json()["code"] == "forbidden"
        assert closed_with(ws) == 4403


def test_hello_timeout_is_1008(court_factory: Callable[..., Court]) -> None:
    court = court_factory(COURTROOM_HELLO_TIMEOUT="0.2")
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        assert ws.receive_json()["message"] == "no hello within the timeout"
        assert closed_with(ws) == 1008


@pytest.mark.parametrize("when", ["hello", "later"])
def test_oversized_frame_is_1009(court_factory: Callable[..., Court], when: str) -> None:
    court = court_factory(COURTROOM_MAX_FRAME_BYTES="2048")
    sid = court.new_session()
    huge = orjson.dumps(
        {"type": "log", "event_type": "NOTE", "details": {"x": "y" * 5000}}
    ).decode()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        if when == "later":
            court.hello(ws, user="judge")
        ws.send_text(huge)
        assert next_of(ws, "error")["code"] == "too_large"
        assert closed_with(ws) == 1009


def test_flag_off_closes_4403(court_factory: Callable[..., Court]) -> None:
    on = court_factory()
    sid = on.new_session()
    # A second app on the same database with the flag off.
    off = court_factory(on.services.settings.database_url, FEATURE_MOOT_OPERATIONS="false")
    with off.client.websocket_connect(ws_url(sid)) as ws:
        ws.send_json({"type": "hello", "v": 1, "as": "observer"})
        assert ws.receive_json()["code"] == "forbidden"
        assert closed_with(ws) == 4403


# --- resume ----------------------------------------------------------------------


def test_resume_replays_exactly_the_missed_entries(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        w = court.hello(ws, user="judge")
        last = w["head"]["sequence_number"]
        court.post(f"/api/session/{sid}/log", json={"event_type": "SEEN"})
        last = events(ws, 1)[0]["sequence_number"]
    # Away: the close (OBSERVER_LEFT) and three more entries are committed.
    for i in range(3):
        court.post(f"/api/session/{sid}/log", json={"event_type": "MISSED", "details": {"i": i}})
    with court.client.websocket_connect(ws_url(sid)) as ws:
        w = court.hello(ws, user="judge", resume_from=last)
        assert w["recovered"] is True
        head = w["head"]["sequence_number"]
        replayed = events(ws, head - last)
        assert [e["sequence_number"] for e in replayed] == list(range(last + 1, head + 1))
        # Then live, up to this connection's own arrival. The earlier departure is
        # logged as the socket closes, racing the writes (and may share the
        # observer window with this arrival): replayed or live, it comes once.
        got = list(replayed)
        while got[-1]["event_type"] != "OBSERVER_JOINED":
            got += events(ws, 1)
        assert [e["sequence_number"] for e in got] == list(range(last + 1, last + 1 + len(got)))
        types = sorted(e["event_type"] for e in got)
        assert types == ["MISSED", "MISSED", "MISSED", "OBSERVER_JOINED", "OBSERVER_LEFT"] or (
            types == ["MISSED", "MISSED", "MISSED", "OBSERVER_JOINED"]
            and events(ws, 1)[0]["event_type"] == "OBSERVER_LEFT"
        )
        court.post(f"/api/session/{sid}/log", json={"event_type": "LIVE"})
        live = events(ws, 1)[0]
        assert live["event_type"] == "LIVE"
        assert live["sequence_number"] == last + 6


def test_resume_from_the_future_is_not_recovered(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(ws_url(sid)) as ws:
        w = court.hello(ws, resume_from=500)
        assert w["recovered"] is False


def test_resume_while_entries_are_committed_during_the_reconnect(court: Court) -> None:
    """Entries race the reconnect: every client sees one gap-free, duplicate-free run."""
    sid = court.new_session()
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            r = court.post(
                f"/api/session/{sid}/log", json={"event_type": "RACE", "details": {"i": i}}
            )
            if r.status_code != 200:
                errors.append(r.text)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen: list[int] = []
        last = 0
        for _ in range(8):
            with court.client.websocket_connect(ws_url(sid)) as ws:
                w = court.hello(ws, user="judge", resume_from=last)
                assert w["recovered"] is True
                for e in events(ws, 15):
                    seen.append(e["sequence_number"])
                last = seen[-1]
    finally:
        stop.set()
        t.join()
    assert not errors
    assert seen == list(range(1, 1 + len(seen))), "gap or duplicate"
    full = court.get(f"/api/session/{sid}/logs?limit=10000").json()["entries"]
    assert verify_entries(full).valid
