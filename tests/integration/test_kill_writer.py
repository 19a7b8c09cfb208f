"""kill -9 in the middle of a stream of batches: nothing acknowledged is ever lost.

A real uvicorn process takes commands from several clients on several
sessions at once (so the writer commits many per transaction) and is killed
with SIGKILL while they are in flight, twenty times over. After each restart:
every command that got a 200 is in the log with the sequence number it was
given, each session's log is 1..N with no gap, every chain verifies (no
half-written batch), and each session's stored Merkle tree is exactly its
log's (grown in the log's own transactions: its size is the head, its right
edge and its stored nodes are those of an RFC 6962 tree built here from the
entries). Commands in flight when the process died may or may not
be there; the test only requires that what is there is whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from protocol.merkle import CompactRange, MemoryTree, leaf_hash
from store import STORED_LEVEL, RecordStore, SessionStore
from tests.conftest import scratch_database
from tests.integration.note_streams import Acked, check_log, http_notes, read_log
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"
SESSIONS = 4
CLIENTS_PER_SESSION = 3


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _round(node: ServerProcess, sids: list[str], acked: dict[str, Acked]) -> None:
    limits = httpx.Limits(max_connections=SESSIONS * CLIENTS_PER_SESSION + 4)
    async with httpx.AsyncClient(base_url=node.base_url, timeout=10, limits=limits) as http:
        h = await _login(http)
        streams = [
            asyncio.create_task(http_notes(http, h, sid, f"{node.starts}-{k}", acked[sid]))
            for sid in sids
            for k in range(CLIENTS_PER_SESSION)
        ]
        await asyncio.sleep(random.uniform(0.2, 0.6))
        await asyncio.to_thread(node.kill)
        await asyncio.wait_for(asyncio.gather(*streams), 30)


async def _stored_tree_is_the_logs(url: str, sid: str, entries: list[dict[str, Any]]) -> None:
    tree = MemoryTree()
    for e in entries:
        tree.append(leaf_hash(e["hash"]))
    store = SessionStore(url)
    try:
        records = RecordStore(store)
        stored = await records.tree(sid)
        assert stored.size == len(entries), (stored.size, len(entries))
        assert CompactRange(stored.size, stored.frontier).root() == tree.root()
        wanted = [
            (lv, i)
            for lv in range(STORED_LEVEL, len(tree.levels))
            for i in range(len(tree.levels[lv]))
        ]
        nodes = await records.nodes(sid, wanted)
        assert nodes == {(lv, i): tree.get(lv, i) for lv, i in wanted}
    finally:
        await store.close()


def _check(
    node: ServerProcess,
    sids: list[str],
    acked: dict[str, Acked],
    url: str,
) -> int:
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        tok = http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        total = 0
        for sid in sids:
            entries = read_log(http, h, sid)
            check_log(entries, acked[sid])
            assert http.get(f"/api/session/{sid}/verify", headers=h).json()["valid"] is True
            asyncio.run(_stored_tree_is_the_logs(url, sid, entries))
            total += len(acked[sid])
        return total


@contextlib.contextmanager
def _node(tmp: Any, database_url: str | None) -> Iterator[ServerProcess]:
    env = {"COURTROOM_LOG_LEVEL": "warning"}
    if database_url:
        env["DATABASE_URL"] = database_url
    node = ServerProcess(tmp / "node", env=env)
    node.create_user("judge", "JUDGE", PASSWORD)
    with node:
        yield node


def _kill_rounds(node: ServerProcess, rounds: int, url: str) -> None:
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        tok = http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        sids = [
            http.post("/api/session/create", json={"title": f"k{i}"}, headers=h).json()["id"]
            for i in range(SESSIONS)
        ]
    acked: dict[str, Acked] = {sid: {} for sid in sids}
    started = time.monotonic()
    for _ in range(rounds):
        asyncio.run(_round(node, sids, acked))
        node.start()
        _check(node, sids, acked, url)
    total = sum(len(a) for a in acked.values())
    # The streams did get through between the kills (or the test proves nothing).
    assert total > rounds * SESSIONS, total
    print(f"{rounds} kills, {total} acknowledged commands kept, {time.monotonic() - started:.1f} s")


def test_kill_9_mid_batch_loses_nothing_acknowledged_sqlite(tmp_path: Any) -> None:
    with _node(tmp_path, None) as node:
        url = f"sqlite+aiosqlite:///{node.data_dir / 'courtroom.db'}"
        _kill_rounds(node, int(os.environ.get("COURTROOM_KILL_ROUNDS", "20")), url)


@pytest.mark.postgres
def test_kill_9_mid_batch_loses_nothing_acknowledged_postgres(tmp_path: Any) -> None:
    with scratch_database() as url, _node(tmp_path, url) as node:
        _kill_rounds(node, int(os.environ.get("COURTROOM_KILL_ROUNDS_PG", "20")), url)
