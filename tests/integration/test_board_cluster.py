"""The live board across nodes: a judge's commands on node A, the board's socket on node B.

Two real uvicorn nodes over one PostgreSQL database and a private Redis: the board's node
learns of every committed entry through the same Redis fan-out as a session channel, and a
board that reconnects to the other node resumes with ``known`` and misses no change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import scratch_database
from tests.integration.cluster import RedisProcess
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


class Two:
    def __init__(self, nodes: list[ServerProcess]) -> None:
        self.nodes = nodes
        self.tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = httpx.post(
                self.nodes[0].base_url + "/api/auth/login",
                data={"username": user, "password": PASSWORD},
            )
            r.raise_for_status()
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def call(self, node: int, method: str, path: str, user: str = "admin", **kw: Any) -> Any:
        r = httpx.request(
            method,
            self.nodes[node].base_url + path,
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=20,
            **kw,
        )
        assert r.status_code < 400, r.text
        return r.json()


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    base = tmp_path_factory.mktemp("board-cluster")
    with scratch_database() as db, RedisProcess(base) as redis:
        env = {
            "DATABASE_URL": db,
            "REDIS_URL": redis.url,
            "COURTROOM_LOG_LEVEL": "warning",
            # The boards re-read their schedule once a day: a new session comes as news.
            "COURTROOM_BOARD_RESCAN_MS": "86400000",
        }
        nodes = [
            ServerProcess(base / f"node{i}", env={**env, "COURTROOM_NODE_ID": f"node-{i}"})
            for i in range(2)
        ]
        nodes[0].cli("migrate")
        nodes[0].create_user("admin", "ADMIN", PASSWORD)
        nodes[0].create_user("judge", "JUDGE", PASSWORD)
        for n in nodes:
            n.start(wait=False)
        for n in nodes:
            n.wait_healthy()
        try:
            yield Two(nodes)
        finally:
            for n in nodes:
                n.stop()


def day_with_two_sessions(two: Two, opened: int = 2) -> tuple[int, str, list[str]]:
    """A tournament of two matches today, each in a slot; a session opened for the first
    ``opened`` of them. Returns its id, the day and the session ids (or the assignment
    ids of the matches left unopened, after them)."""
    now = dt.datetime.now(dt.UTC)
    day = now.date().isoformat()
    start = now.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00Z")
    t = two.call(0, "POST", "/api/tournaments", json={"name": "Cluster Cup"})
    base = f"/api/tournaments/{t['id']}"
    event = two.call(0, "POST", base + "/events", json={"name": "Moot"})["id"]
    stage = two.call(
        0, "POST", base + "/stages", json={"event_id": event, "name": "R1", "order": 1}
    )
    teams = [two.call(0, "POST", base + "/teams", json={"name": f"Team {x}"})["id"] for x in "ABCD"]
    courts = [
        two.call(0, "POST", base + "/courts", json={"label": f"Court {n}", "number": n})["id"]
        for n in (1, 2)
    ]
    slots = [
        {"court_id": c, "start": start, "duration_minutes": 60, "day_date": day} for c in courts
    ]
    two.call(0, "POST", base + "/slots", json={"slots": slots})
    for pet, res in ((0, 1), (2, 3)):
        body = {
            "stage_id": stage["id"],
            "petitioner_team_id": teams[pet],
            "respondent_team_id": teams[res],
        }
        two.call(0, "POST", base + "/matches", json=body)
    vid = two.call(0, "POST", base + "/schedule/versions")["id"]
    two.call(0, "POST", f"{base}/schedule/versions/{vid}/auto-assign")
    items = two.call(0, "GET", f"{base}/schedule/day?date={day}")["items"]
    sids = [
        str(
            two.call(
                0, "POST", "/api/session/create", json={"assignment_id": str(i["assignment_id"])}
            )["id"]
        )
        for i in items[:opened]
    ]
    return int(t["id"]), day, sids + [str(i["assignment_id"]) for i in items[opened:]]


async def open_board(
    two: Two, node: int, tid: int, day: str, known: dict[str, int] | None = None
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"{two.nodes[node].ws_base}/ws/tournaments/{tid}")
    hello: dict[str, Any] = {"type": "hello", "v": 1, "token": two.token("admin"), "date": day}
    if known is not None:
        hello["known"] = known
    await ws.send(json.dumps(hello))
    board = json.loads(await ws.recv(decode=True))
    assert board["type"] == "board", board
    return ws, board


async def summary_of(ws: ClientConnection, sid: str, after: int) -> dict[str, Any]:
    while True:
        f: dict[str, Any] = json.loads(await ws.recv(decode=True))
        if f["type"] == "summary" and f["session_id"] == sid and f["sequence_number"] > after:
            return f


async def test_judge_on_node_a_board_on_node_b(two: Two) -> None:
    tid, day, (s1, s2) = day_with_two_sessions(two)
    ws, board = await open_board(two, 1, tid, day)
    heads = dict(board["heads"])
    assert set(heads) == {s1, s2}
    try:
        for path, status in (("start", "active"), ("pause", "paused"), ("resume", "active")):
            two.call(0, "POST", f"/api/session/{s1}/{path}", user="judge")
            f = await summary_of(ws, s1, heads[s1])
            assert (f["status"], f["sequence_number"]) == (status, heads[s1] + 1)
            heads[s1] = f["sequence_number"]
    finally:
        await ws.close()

    # The board drops; meanwhile both sessions move on node A; it comes back on node A.
    two.call(0, "POST", f"/api/session/{s1}/complete", user="judge")
    two.call(0, "POST", f"/api/session/{s2}/start", user="judge")
    ws, board = await open_board(two, 0, tid, day, known=heads)
    try:
        got = {s["session_id"]: s for s in board["summaries"]}
        assert set(got) == {s1, s2}
        assert got[s1]["status"] == "completed" and got[s2]["status"] == "active"
        assert got[s1]["sequence_number"] == heads[s1] + 1
        assert got[s2]["sequence_number"] == heads[s2] + 1
    finally:
        await ws.close()


async def test_a_session_opened_on_node_a_reaches_the_board_on_node_b_as_news(two: Two) -> None:
    tid, day, (s1, aid) = day_with_two_sessions(two, opened=1)
    ws, board = await open_board(two, 1, tid, day)
    try:
        assert set(board["heads"]) == {s1}
        s2 = str(two.call(0, "POST", "/api/session/create", json={"assignment_id": aid})["id"])
        # Node B re-reads its schedule once a day: only the news can bring this.
        while True:
            f = json.loads(await ws.recv(decode=True))
            if f["type"] == "schedule":
                break
            assert f.get("session_id") != s2, "the schedule names the session first"
        item = next(i for i in f["schedule"]["items"] if str(i["assignment_id"]) == aid)
        assert item["session_id"] == s2
        assert (await summary_of(ws, s2, -1))["status"] == "pending"
        two.call(0, "POST", f"/api/session/{s2}/start", user="judge")
        assert (await summary_of(ws, s2, 1))["status"] == "active"
    finally:
        await ws.close()


async def test_sigterm_closes_a_board_with_1001(two: Two) -> None:
    tid, day, _ = day_with_two_sessions(two)
    ws, _ = await open_board(two, 1, tid, day)
    two.nodes[1].terminate()
    try:
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    finally:
        two.nodes[1].start()
