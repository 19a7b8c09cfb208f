"""The tournament channel ``/ws/tournaments/{id}`` (docs/protocol.md, "Tournament channel").

Through the real ASGI app: the board welcome, a summary per session change, resume by
``known`` with no change missed, one coalesced clocks frame for all courts, and who may
subscribe (organisers; anyone only where the schedule is public).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.app.test_schedule_api import DAY, Tour, build, ok
from tests.conftest import Court


def board_url(t: Tour | int) -> str:
    return f"/ws/tournaments/{t if isinstance(t, int) else t.id}"


def hello(c: Court, ws: Any, user: str | None, **extra: Any) -> dict[str, Any]:
    ws.send_json(
        {"type": "hello", "v": 1, "token": c.token(user) if user else None, "date": DAY, **extra}
    )
    frame: dict[str, Any] = ws.receive_json()
    assert frame["type"] == "board", frame
    return frame


def next_summary(ws: Any, sid: str, after: int = -1, limit: int = 50) -> dict[str, Any]:
    """The next summary of ``sid`` past sequence number ``after`` (clocks frames, other
    sessions' summaries and a re-sent tile whose chain check finished are skipped)."""
    for _ in range(limit):
        f: dict[str, Any] = ws.receive_json()
        if f["type"] == "summary" and f["session_id"] == sid and f["sequence_number"] > after:
            return f
    raise AssertionError(f"no summary of {sid}")


def refused(c: Court, t: Tour | int, user: str | None, **extra: Any) -> tuple[int, dict[str, Any]]:
    with c.client.websocket_connect(board_url(t)) as ws:
        ws.send_json({"type": "hello", "v": 1, "token": c.token(user) if user else None, **extra})
        err: dict[str, Any] = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    return info.value.code, err


def day_with_sessions(c: Court, *, public: bool = False) -> tuple[Tour, list[str]]:
    """The schedule of ``build`` auto-assigned (finalized when public), with a session
    opened for m1 and m2 (the two 09:00 matches)."""
    t = build(c, public=public)
    vid = t.new_version()
    t.auto_assign(vid)
    if public:
        ok(t.post(f"/schedule/versions/{vid}/finalize"), 200)
    a = t.assignments(vid)
    sids = [
        str(
            ok(
                c.post(
                    "/api/session/create",
                    "admin",
                    json={"assignment_id": str(a[t.matches[m]]["id"])},
                )
            )["id"]
        )
        for m in ("m1", "m2")
    ]
    return t, sids


def test_the_welcome_has_the_day_and_a_summary_per_session_then_one_per_change(
    court: Court,
) -> None:
    t, (s1, s2) = day_with_sessions(court)
    with court.client.websocket_connect(board_url(t)) as ws:
        w = hello(court, ws, "admin")
        assert w["access"] == "organiser" and w["date"] == DAY
        assert w["tournament"] == {"id": t.id, "name": "Spring Moot", "public_schedule": False}
        items = w["schedule"]["items"]
        assert len(items) == 3 and {i["session_id"] for i in items} == {s1, s2, None}
        tiles = {s["session_id"]: s for s in w["summaries"]}
        assert set(tiles) == {s1, s2} and set(w["heads"]) == {s1, s2}
        assert tiles[s1]["status"] == "pending" and tiles[s1]["turn"] is None
        assert [m["role"] for m in tiles[s1]["missing"]].count("petitioner") == 2
        assert w["clock_interval_ms"] >= 500

        # A change of s1 is one summary of s1, at its new head.
        court.post(f"/api/session/{s1}/start")
        f = next_summary(ws, s1, w["heads"][s1])
        assert f["status"] == "active" and f["sequence_number"] == w["heads"][s1] + 1
        # A turn: the summary carries who speaks and the clock's anchor.
        uid = str(court.user_ids["pet1"])
        court.post(f"/api/session/{s1}/join", "pet1", json={"role": "petitioner", "speaker": 1})
        r = ok(
            court.post(
                "/api/classroom/rounds",
                json={"session_id": s1, "turns": [{"participant_id": uid, "allowed_seconds": 90}]},
            )
        )
        court.post(f"/api/classroom/rounds/{r['id']}/start")
        court.post(f"/api/classroom/turns/{r['turns'][0]['id']}/start", "pet1")
        for _ in range(10):
            f = next_summary(ws, s1, f["sequence_number"])
            if f["turn"] and f["turn"]["running"]:
                break
        turn = f["turn"]
        assert turn["name"] == "Pet1" and turn["side"] == "petitioner"
        assert turn["deadline_ms"] > f["server_time_ms"] and turn["allowed_ms"] == 90_000
        assert f["round"] == {"index": 1, "status": "ACTIVE", "format": f["round"]["format"]}
        assert [p["user_id"] for p in f["participants"]] == [uid]
        court.post(f"/api/session/{s1}/pause")
        f = next_summary(ws, s1, f["sequence_number"])
        assert f["status"] == "paused" and f["turn"]["running"] is False
        assert f["turn"]["deadline_ms"] is None and 0 < f["turn"]["remaining_ms"] <= 90_000


def test_resume_with_known_sends_every_session_that_moved_and_only_those(court: Court) -> None:
    t, (s1, s2) = day_with_sessions(court)
    with court.client.websocket_connect(board_url(t)) as ws:
        heads = hello(court, ws, "faculty")["heads"]
    # While the board is away: s1 changes twice, s2 not at all.
    court.post(f"/api/session/{s1}/start")
    court.post(f"/api/session/{s1}/log", json={"event_type": "NOTE", "details": {"t": 1}})
    with court.client.websocket_connect(board_url(t)) as ws:
        w = hello(court, ws, "faculty", known=heads)
        assert [s["session_id"] for s in w["summaries"]] == [s1]
        assert w["summaries"][0]["sequence_number"] == heads[s1] + 2 == w["heads"][s1]
        assert w["summaries"][0]["status"] == "active"
        assert w["heads"][s2] == heads[s2]
        # Live again: the next change comes as a summary, numbered after the resume.
        court.post(f"/api/session/{s2}/start")
        assert next_summary(ws, s2, heads[s2])["sequence_number"] == heads[s2] + 1
    # Knowing nothing is a fresh start: every session's summary.
    with court.client.websocket_connect(board_url(t)) as ws:
        w = hello(court, ws, "faculty", known={})
        assert {s["session_id"] for s in w["summaries"]} == {s1, s2}


def test_the_chain_of_each_session_is_checked_for_its_tile(court: Court) -> None:
    t, (s1, _) = day_with_sessions(court)
    with court.client.websocket_connect(board_url(t)) as ws:
        hello(court, ws, "admin")
        court.post(f"/api/session/{s1}/start")
        for _ in range(20):
            f = next_summary(ws, s1)
            if f["chain"]["state"] == "ok" and f["chain"]["through"] == f["sequence_number"]:
                break
            court.post(f"/api/session/{s1}/log", json={"event_type": "NOTE", "details": {}})
        assert f["chain"] == {"state": "ok", "through": f["sequence_number"], "broken_at": None}


def test_signed_checkpoints_do_not_break_a_tiles_chain(court: Court) -> None:
    # A turn's start and a pause are signed (checkpoint frames on the session's channel,
    # docs/protocol.md section 4): the tile's chain check reads the entries only.
    t, (s1, _) = day_with_sessions(court)
    uid = str(court.user_ids["pet1"])
    with court.client.websocket_connect(board_url(t)) as ws:
        hello(court, ws, "admin")
        court.post(f"/api/session/{s1}/start")
        court.post(f"/api/session/{s1}/join", "pet1", json={"role": "petitioner", "speaker": 1})
        r = ok(
            court.post(
                "/api/classroom/rounds",
                json={"session_id": s1, "turns": [{"participant_id": uid, "allowed_seconds": 90}]},
            )
        )
        court.post(f"/api/classroom/rounds/{r['id']}/start")
        court.post(f"/api/classroom/turns/{r['turns'][0]['id']}/start", "pet1")
        court.post(f"/api/session/{s1}/pause")
        head = ok(court.get(f"/api/session/{s1}"), 200)["head"]["sequence_number"]
        court.post(f"/api/session/{s1}/log", json={"event_type": "NOTE", "details": {}})
        f = next_summary(ws, s1, head)
        while f["chain"]["state"] == "checking":
            f = next_summary(ws, s1, f["sequence_number"] - 1)
        assert f["chain"] == {"state": "ok", "through": head + 1, "broken_at": None}


def test_one_clocks_frame_carries_every_running_clock(court: Court) -> None:
    t, sids = day_with_sessions(court)
    uid = str(court.user_ids["pet1"])
    with court.client.websocket_connect(board_url(t)) as ws:
        hello(court, ws, "admin")
        for sid in sids:
            court.post(f"/api/session/{sid}/start")
            court.post(f"/api/session/{sid}/join", "pet1", json={"role": "petitioner"})
            r = ok(
                court.post(
                    "/api/classroom/rounds",
                    json={
                        "session_id": sid,
                        "turns": [{"participant_id": uid, "allowed_seconds": 300}],
                    },
                )
            )
            court.post(f"/api/classroom/rounds/{r['id']}/start")
            court.post(f"/api/classroom/turns/{r['turns'][0]['id']}/start", "pet1")
        for _ in range(200):
            f = ws.receive_json()
            if f["type"] == "clocks" and set(f["clocks"]) == set(sids):
                break
        else:
            raise AssertionError("no clocks frame with both sessions")
        # Only the board's taps watch these sessions: the hub encodes no per-session tick.
        hub = court.services.hub
        assert hub.tick_all(court.services.courtroom.clock()) == 0
        heads = {sid: next_summary_seq for sid, next_summary_seq in f["clocks"].items()}
        for remaining, seq in heads.values():
            assert 0 < remaining <= 300_000 and seq >= 1
    boards = court.services.extras["boards"].boards
    assert boards == {}, "the last board socket gone, the node's board closes and untaps"


# --- who may subscribe -------------------------------------------------------------------


def test_a_student_cannot_subscribe_to_a_private_board(court: Court) -> None:
    t, _ = day_with_sessions(court)
    code, err = refused(court, t, "student", date=DAY)
    assert code == 4403 and err["code"] == "forbidden"
    code, _ = refused(court, t, "judge", date=DAY)
    assert code == 4403
    code, err = refused(court, t, None, date=DAY)
    assert code == 4401 and err["code"] == "unauthorized"
    for user in ("admin", "faculty"):
        with court.client.websocket_connect(board_url(t)) as ws:
            assert hello(court, ws, user)["access"] == "organiser"


def test_anyone_may_watch_a_public_board_read_only(court: Court) -> None:
    t, (s1, _) = day_with_sessions(court, public=True)
    for user in (None, "student"):
        with court.client.websocket_connect(board_url(t)) as ws:
            w = hello(court, ws, user)
            assert w["access"] == "public" and s1 in w["heads"]
            court.post(f"/api/session/{s1}/log", json={"event_type": "NOTE", "details": {}})
            assert next_summary(ws, s1, w["heads"][s1])["status"] == "pending"
            ws.send_json({"type": "session.start", "id": 1})
            err = ws.receive_json()
            while err["type"] != "error":
                err = ws.receive_json()
            assert err["ref"] == 1 and "ping only" in err["message"]
            ws.send_json({"type": "ping", "id": 2})
            pong = ws.receive_json()
            while pong["type"] != "pong":
                pong = ws.receive_json()
            assert pong["ref"] == 2 and isinstance(pong["server_time_ms"], int)


def test_unknown_tournament_and_bad_hello(court: Court) -> None:
    assert refused(court, 999999, "admin", date=DAY)[0] == 4404
    assert refused(court, 999999, "admin", date="2 March")[0] == 1008
    code, err = refused(court, 1, "admin", v=2)
    assert code == 1008 and err["code"] == "bad_request"


def test_a_session_opened_while_the_board_is_open_joins_it(court: Court) -> None:
    from server.live.board import BoardRegistry

    court.services.extras["boards"] = BoardRegistry(court.services, rescan_ms=50)
    t, (s1, _) = day_with_sessions(court)
    vid = t.versions[-1]
    m3 = t.assignments(vid)[t.matches["m3"]]["id"]
    with court.client.websocket_connect(board_url(t)) as ws:
        w = hello(court, ws, "admin")
        assert len(w["heads"]) == 2
        s3 = str(
            ok(court.post("/api/session/create", "admin", json={"assignment_id": str(m3)}))["id"]
        )
        for _ in range(100):
            f = ws.receive_json()
            if f["type"] == "schedule":
                break
        else:
            raise AssertionError("no schedule frame")
        assert s3 in {i["session_id"] for i in f["schedule"]["items"]}
        assert next_summary(ws, s3)["status"] == "pending"
        court.post(f"/api/session/{s3}/start")
        assert next_summary(ws, s3, 1)["status"] == "active"


def test_a_session_opened_for_a_match_reaches_an_open_board_as_news(
    court_factory: Callable[..., Court],
) -> None:
    # The timer re-reads the schedule once a day here: whatever arrives came as news.
    court = court_factory(COURTROOM_BOARD_RESCAN_MS="86400000")
    t, (s1, _) = day_with_sessions(court)
    m3 = t.assignments(t.versions[-1])[t.matches["m3"]]["id"]
    with court.client.websocket_connect(board_url(t)) as ws:
        w = hello(court, ws, "admin")
        assert len(w["heads"]) == 2
        (board,) = court.services.extras["boards"].boards.values()
        assert board.rescans == 1  # the read at opening
        s3 = str(
            ok(court.post("/api/session/create", "admin", json={"assignment_id": str(m3)}))["id"]
        )
        # The schedule naming the session comes before the session's first summary.
        before = []  # the other tiles' chain checks may finish meanwhile
        f = ws.receive_json()
        while f["type"] != "schedule":
            before.append(f.get("session_id"))
            f = ws.receive_json()
        assert s3 not in before
        item = next(i for i in f["schedule"]["items"] if i["assignment_id"] == m3)
        assert item["session_id"] == s3
        assert next_summary(ws, s3)["status"] == "pending"
        assert board.rescans == 2, "one re-read, on the news; the timer never ran"
        # News of another tournament, or a repeat of this one, re-reads nothing.
        court.services.extras["boards"].on_news(str(t.id + 1000), [])
        board.session_opened(s3)
        court.post(f"/api/session/{s1}/start")
        assert next_summary(ws, s1)["status"] == "active"
        assert board.rescans == 2


# --- the node's connections: the cap and shutdown ------------------------------------------


def test_board_sockets_count_against_the_connection_cap(
    court_factory: Callable[..., Court],
) -> None:
    court = court_factory(COURTROOM_MAX_CONNECTIONS="1")
    t, (s1, _) = day_with_sessions(court)
    with court.client.websocket_connect(board_url(t)) as first:
        hello(court, first, "admin")
        assert len(court.services.connections) == 1
        for url in (board_url(t), f"/ws/sessions/{s1}"):  # full for boards and sessions
            with court.client.websocket_connect(url) as second:
                with pytest.raises(WebSocketDisconnect) as info:
                    second.receive_json()
                assert info.value.code == 1013
        first.send_json({"type": "ping", "id": 1})  # the first is unaffected
        f = first.receive_json()
        while f["type"] != "pong":
            f = first.receive_json()
    with court.client.websocket_connect(board_url(t)) as again:  # room again once it left
        assert hello(court, again, "admin")["type"] == "board"
    assert len(court.services.connections) == 0


def test_shutdown_closes_board_sockets_with_1001(court: Court) -> None:
    from server.http.serve import close_all

    t, _ = day_with_sessions(court)
    with court.client.websocket_connect(board_url(t)) as ws:
        hello(court, ws, "admin")
        assert court.client.portal is not None
        court.client.portal.call(close_all)  # what SIGTERM runs before uvicorn's shutdown
        with pytest.raises(WebSocketDisconnect) as info:
            for _ in range(100):
                ws.receive_json()
        assert info.value.code == 1001
