"""Many nodes, one courtroom: three real uvicorn nodes over one PostgreSQL and a private Redis.

Clients spread over the nodes must see one identical, gap-free sequence; the
node that drives a turn's clock may die and another finishes the turn exactly
once; Redis may restart and every client still converges with no gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from protocol import verify_entries
from tests.conftest import scratch_database
from tests.integration.cluster import RedisProcess, Watcher
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


class Cluster:
    def __init__(self, nodes: list[ServerProcess], redis: RedisProcess) -> None:
        self.nodes = nodes
        self.redis = redis
        self.tokens: dict[str, str] = {}

    async def login(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            async with httpx.AsyncClient(base_url=self.nodes[0].base_url) as h:
                r = await h.post("/api/auth/login", data={"username": user, "password": PASSWORD})
                r.raise_for_status()
                self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def call(self, node: int, method: str, path: str, user: str = "judge", **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.nodes[node].base_url, timeout=20) as h:
            r = await h.request(method, path, headers=await self.login(user), **kw)
            assert r.status_code < 400, r.text
            return r.json()

    async def log(self, sid: str) -> list[dict[str, Any]]:
        for i, n in enumerate(self.nodes):
            if n.running:
                body = await self.call(i, "GET", f"/api/session/{sid}/logs?limit=10000")
                return list(body["entries"])
        raise AssertionError("no node is running")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("cluster")
    with scratch_database() as db, RedisProcess(base) as redis:
        env = {
            "DATABASE_URL": db,
            "REDIS_URL": redis.url,
            "COURTROOM_TIMER_LEASE_MS": "1500",
            "COURTROOM_NODE_TTL_MS": "2000",
            "COURTROOM_RECONNECT_GRACE_MS": "3000",
            "COURTROOM_TICK_MS": "200",
        }
        nodes = [
            ServerProcess(base / f"node{i}", env={**env, "COURTROOM_NODE_ID": f"node-{i}"})
            for i in range(3)
        ]
        nodes[0].cli("migrate")
        nodes[0].create_user("judge", "JUDGE", PASSWORD)
        nodes[0].create_user("faculty", "FACULTY", PASSWORD)
        nodes[0].create_user("pet1", "STUDENT", PASSWORD)
        for n in nodes:
            n.start(wait=False)
        for n in nodes:
            n.wait_healthy()
        try:
            yield Cluster(nodes, redis)
        finally:
            for n in nodes:
                n.stop()


@pytest.fixture
async def watchers(cluster: Cluster) -> AsyncIterator[list[Watcher]]:
    ws: list[Watcher] = []
    yield ws
    for w in ws:
        await w.close()


async def new_session(cluster: Cluster, node: int = 0) -> str:
    sid = str(
        (await cluster.call(node, "POST", "/api/session/create", json={"title": "cluster"}))["id"]
    )
    await cluster.call(node, "POST", f"/api/session/{sid}/start")
    return sid


async def spread(cluster: Cluster, sid: str, watchers: list[Watcher], n: int = 3) -> list[Watcher]:
    out = []
    for i in range(n):
        w = Watcher(f"client@node{i}")
        await w.attach(cluster.nodes[i].ws_base, sid)
        watchers.append(w)
        out.append(w)
    return out


async def test_clients_on_every_node_see_one_sequence(
    cluster: Cluster, watchers: list[Watcher]
) -> None:
    sid = await new_session(cluster)
    clients = await spread(cluster, sid, watchers)
    # Commands land on all three nodes, concurrently.
    await asyncio.gather(
        *(
            cluster.call(
                i % 3,
                "POST",
                f"/api/session/{sid}/log",
                json={"event_type": "NOTE", "details": {"i": i}},
            )
            for i in range(45)
        )
    )
    head = (await cluster.call(1, "GET", f"/api/session/{sid}"))["head"]["sequence_number"]
    for w in clients:
        await w.wait_for(lambda w: w.last >= head)
    log = await cluster.log(sid)
    assert verify_entries(log).valid
    for w in clients:
        assert w.seqs == list(range(1, head + 1))
        assert [e["hash"] for e in w.events] == [e["hash"] for e in log[:head]]


async def test_timer_owner_dies_and_another_node_expires_the_turn_once(
    cluster: Cluster, watchers: list[Watcher]
) -> None:
    sid = await new_session(cluster, node=1)
    await cluster.call(
        1, "POST", f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1}
    )
    me = await cluster.call(1, "GET", "/api/auth/me", "pet1")
    body = {
        "session_id": sid,
        "turns": [{"participant_id": str(me["user_id"]), "allowed_seconds": 3}],
    }
    rnd = await cluster.call(1, "POST", "/api/classroom/rounds", "faculty", json=body)
    await cluster.call(1, "POST", f"/api/classroom/rounds/{rnd['id']}/start", "faculty")
    on_victim, on_other = Watcher("on-node1"), Watcher("on-node2")
    for w, node in ((on_victim, 1), (on_other, 2)):
        await w.attach(cluster.nodes[node].ws_base, sid)
        watchers.append(w)
    # Node 1 starts the turn, so node 1 drives its clock ...
    started = await cluster.call(
        1, "POST", f"/api/classroom/turns/{rnd['turns'][0]['id']}/start", "pet1"
    )
    deadline = started["deadline_ms"]
    await on_other.wait_for(lambda w: any(t["running"] for t in w.ticks))
    # ... and dies mid-turn.
    cluster.nodes[1].kill()
    await on_victim.wait_closed()
    try:
        # Its client comes back through another node and misses nothing.
        await on_victim.attach(cluster.nodes[0].ws_base, sid)
        for w in (on_victim, on_other):
            await w.wait_for(
                lambda w: any(e["event_type"] == "ROUND_COMPLETED" for e in w.events), timeout=20
            )
        log = await cluster.log(sid)
        expired = [e for e in log if e["event_type"] == "TURN_TIME_EXPIRED"]
        assert len(expired) == 1 and expired[0]["details"]["expired_at_ms"] == deadline
        assert [e["event_type"] for e in log].count("TURN_AUTO_SUBMITTED") == 1
        for w in (on_victim, on_other):
            assert w.seqs == list(range(1, len(w.seqs) + 1))
        assert verify_entries(log).valid
        # The ticks the survivor saw never jumped back up: one clock, whichever node ran it.
        running = [t["remaining_ms"] for t in on_other.ticks if t["running"]]
        assert running == sorted(running, reverse=True)
    finally:
        cluster.nodes[1].start()


async def test_redis_restart_loses_no_event(cluster: Cluster, watchers: list[Watcher]) -> None:
    sid = await new_session(cluster)
    clients = await spread(cluster, sid, watchers)

    async def notes(start: int, n: int) -> None:
        for i in range(start, start + n):
            await cluster.call(
                i % 3,
                "POST",
                f"/api/session/{sid}/log",
                json={"event_type": "NOTE", "details": {"i": i}},
            )

    await notes(0, 10)
    cluster.redis.kill()
    # Redis is down: commands still commit (the log is the truth), and each
    # node still serves its own clients what it commits itself.
    await notes(10, 12)
    mine = (await cluster.call(0, "POST", f"/api/session/{sid}/log", json={"event_type": "LOCAL"}))[
        "sequence_number"
    ]
    await clients[0].wait_for(
        lambda w: any(e["event_type"] == "LOCAL" for e in w.events) or w.last >= mine
    )
    cluster.redis.start()
    await notes(22, 10)
    head = (await cluster.call(0, "GET", f"/api/session/{sid}"))["head"]["sequence_number"]
    for w in clients:
        await w.wait_for(lambda w: w.last >= head, timeout=20)
        assert w.seqs == list(range(1, head + 1))
    assert verify_entries(await cluster.log(sid)).valid


async def test_presence_follows_the_user_across_nodes(
    cluster: Cluster, watchers: list[Watcher]
) -> None:
    import json

    from websockets.asyncio.client import connect

    sid = await new_session(cluster)
    token = (await cluster.login("pet1"))["Authorization"].split()[1]
    hello = json.dumps(
        {
            "type": "hello",
            "v": 1,
            "token": token,
            "as": "participant",
            "role": "petitioner",
            "speaker": 1,
        }
    )
    a = await connect(f"{cluster.nodes[0].ws_base}/ws/sessions/{sid}")
    await a.send(hello)
    await a.recv()
    b = await connect(f"{cluster.nodes[2].ws_base}/ws/sessions/{sid}")
    await b.send(hello)
    await b.recv()
    await a.close()  # still connected on node 2: nothing changes
    await asyncio.sleep(0.5)
    parts = (await cluster.call(1, "GET", f"/api/session/{sid}/participants"))["participants"]
    assert parts[0]["status"] == "connected" and parts[0]["connection_count"] == 2
    await b.close()  # the last socket: reconnecting, then disconnected after the grace
    end = time.monotonic() + 15
    statuses = []
    while time.monotonic() < end:
        parts = (await cluster.call(1, "GET", f"/api/session/{sid}/participants"))["participants"]
        statuses.append(parts[0]["status"])
        if parts[0]["status"] == "disconnected":
            break
        await asyncio.sleep(0.1)
    assert "reconnecting" in statuses and statuses[-1] == "disconnected"


async def test_sigterm_sends_1001_and_clients_resume_elsewhere(
    cluster: Cluster, watchers: list[Watcher]
) -> None:
    sid = await new_session(cluster)
    w = Watcher("on-node2")
    await w.attach(cluster.nodes[2].ws_base, sid)
    watchers.append(w)
    await cluster.call(0, "POST", f"/api/session/{sid}/log", json={"event_type": "BEFORE"})
    await w.wait_for(lambda w: any(e["event_type"] == "BEFORE" for e in w.events))
    cluster.nodes[2].terminate()
    try:
        await w.wait_closed()
        assert w.closes == [1001]
        await cluster.call(0, "POST", f"/api/session/{sid}/log", json={"event_type": "WHILE_AWAY"})
        await w.attach(cluster.nodes[1].ws_base, sid)
        await cluster.call(1, "POST", f"/api/session/{sid}/log", json={"event_type": "AFTER"})
        await w.wait_for(lambda w: any(e["event_type"] == "AFTER" for e in w.events))
        assert w.seqs == list(range(1, w.last + 1))
        assert "WHILE_AWAY" in [e["event_type"] for e in w.events]
    finally:
        cluster.nodes[2].start()
