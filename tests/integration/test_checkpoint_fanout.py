"""Checkpoint frames reach observers on every node: two real uvicorn nodes, PostgreSQL, Redis.

Node A commits the commands and its record keeper signs the checkpoints (node
B's keeper may sign one first: the observer's arrival is B's commit, and one
checkpoint per size is stored, whichever node signs it); an observer on node B
must receive each of them, through the Redis fan-out when A signed it, after
the entries it covers, in order.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from clients._bundle import keys_from_document
from protocol.checkpoint import parse_note
from tests.conftest import scratch_database
from tests.integration.cluster import RedisProcess, Watcher
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    base = tmp_path_factory.mktemp("checkpoints")
    with scratch_database() as db, RedisProcess(base) as redis:
        # One signing key for the cluster (either node's keeper may sign a checkpoint).
        seed = base64.b64encode(os.urandom(32)).decode()
        env = {"DATABASE_URL": db, "REDIS_URL": redis.url, "COURTROOM_SIGNING_KEY": seed}
        procs = [
            ServerProcess(
                base / f"node{i}",
                env={**env, "COURTROOM_NODE_ID": f"node-{i}"},
                startup_timeout=60.0,  # two nodes starting at once on a shared machine
            )
            for i in range(2)
        ]
        procs[0].cli("migrate")
        procs[0].create_user("judge", "JUDGE", PASSWORD)
        for p in procs:
            p.start(wait=False)
        for p in procs:
            p.wait_healthy()
        try:
            yield procs
        finally:
            for p in procs:
                p.stop()


@pytest.fixture
async def judge(nodes: list[ServerProcess]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nodes[0].base_url, timeout=20) as h:
        r = await h.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
        r.raise_for_status()
        h.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield h


async def _post(h: httpx.AsyncClient, path: str, **kw: Any) -> Any:
    r = await h.post(path, **kw)
    assert r.status_code < 400, r.text
    return r.json()


async def test_an_observer_on_another_node_receives_the_checkpoints(
    nodes: list[ServerProcess], judge: httpx.AsyncClient
) -> None:
    sid = str((await _post(judge, "/api/session/create", json={"title": "two nodes"}))["id"])
    watcher = Watcher("observer@node1")
    await watcher.attach(nodes[1].ws_base, sid)  # node B: it commits nothing itself
    try:
        await _post(judge, f"/api/session/{sid}/start")
        for i in range(3):
            await _post(
                judge, f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"i": i}}
            )
            await _post(judge, f"/api/session/{sid}/pause")
            await _post(judge, f"/api/session/{sid}/resume")
        await _post(judge, f"/api/session/{sid}/complete")
        log = (await judge.get(f"/api/session/{sid}/logs?limit=1000")).json()["entries"]
        boundaries = [
            e["sequence_number"]
            for e in log
            if e["event_type"] in ("SESSION_PAUSED", "SESSION_COMPLETED")
        ]
        assert len(boundaries) == 4
        await watcher.wait_for(lambda w: len(w.checkpoints) >= len(boundaries))
        sizes = [cp["tree_size"] for _, cp in watcher.checkpoints]
        assert sizes == boundaries  # each once, in order
        for seen_through, cp in watcher.checkpoints:
            assert seen_through >= cp["tree_size"]  # after the entries it covers
            assert cp["session_id"] == sid
        # Signed with the cluster's key, as node A publishes it.
        keys = keys_from_document((await judge.get("/.well-known/courtroom-keys")).json())
        for _, cp in watcher.checkpoints:
            assert parse_note(cp["note"]).verify(keys[cp["key_id"]])
        assert watcher.checkpoints[-1][1]["reason"] == "completed"
    finally:
        await watcher.close()
