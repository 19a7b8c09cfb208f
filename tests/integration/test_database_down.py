"""PostgreSQL goes away under a running node: 503 / ``unavailable``, nothing half-written,
and the node recovers by itself when the database returns.

Once with the node idle, once in the middle of streams of commands (4 sessions,
each with 3 HTTP clients and a WebSocket one). The stop lands at a random moment,
with one session's row locked by the test, so that a batch holding that
session's commands is surely in flight, waiting inside the database (the
summary line counts the refusals that came from a batch cut mid-statement);
other streams' next commands may find no database to connect to. A command
whose connection died while its commit was in flight gets ``unavailable`` and
may still have committed (whole): the server cannot know. That one command a
stream, and nothing else, may be in the log without an acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx2 as httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect as aconnect
from websockets.sync.client import connect

from protocol import verify_entries
from tests.integration.note_streams import Acked, check_log, http_notes, read_log, ws_notes
from tests.integration.private_pg import PrivatePostgres
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"
SESSIONS = 4
HTTP_CLIENTS = 3  # a session's HTTP streams, besides its one WebSocket stream


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, PrivatePostgres]]:
    base = tmp_path_factory.mktemp("pgdown")
    pg = PrivatePostgres(base).init()
    pg.start()
    # No WebSocket rate limit: a stream sends as fast as its commands are answered.
    env = {"DATABASE_URL": pg.url, "COURTROOM_WS_RATE": "100000", "COURTROOM_WS_BURST": "100000"}
    node = ServerProcess(base / "node", env=env)
    try:
        node.create_user("judge", "JUDGE", PASSWORD)
        with node:
            yield node, pg
    finally:
        pg.remove()


def test_commands_fail_with_503_then_the_node_recovers(
    setup: tuple[ServerProcess, PrivatePostgres],
) -> None:
    node, pg = setup
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        _scenario(http, node, pg)


def _scenario(http: httpx.Client, node: ServerProcess, pg: PrivatePostgres) -> None:
    tok = http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD}).json()[
        "access_token"
    ]
    h = {"Authorization": f"Bearer {tok}"}
    sid = http.post("/api/session/create", json={}, headers=h).json()["id"]
    http.post(f"/api/session/{sid}/start", headers=h).raise_for_status()
    with connect(f"{node.ws_base}/ws/sessions/{sid}") as ws:
        ws.send(json.dumps({"type": "hello", "v": 1, "token": tok, "as": "observer"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        while json.loads(ws.recv(timeout=30)).get("event_type") != "OBSERVER_JOINED":
            pass  # the welcome does not wait for the arrival to be logged
        before = http.get(f"/api/session/{sid}", headers=h).json()["head"]

        pg.stop()
        r = http.post(f"/api/session/{sid}/log", json={"event_type": "LOST"}, headers=h)
        assert r.status_code == 503 and r.json()["code"] == "unavailable"
        assert r.headers.get("retry-after")
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        assert http.get("/healthz").status_code == 200  # the process itself is fine
        ws.send(json.dumps({"type": "log", "id": 1, "event_type": "LOST"}))
        while True:
            msg = json.loads(ws.recv(timeout=30))
            if msg["type"] == "error":
                break
        assert msg["code"] == "unavailable" and msg["temporary"] is True and msg["ref"] == 1

        pg.start()
        _back(http, h, sid)
        assert http.get("/readyz").status_code == 200
        entries = http.get(f"/api/session/{sid}/logs", headers=h).json()["entries"]
        # Nothing half-written: the refused commands left no entry and no gap.
        assert [e["event_type"] for e in entries[before["sequence_number"] :]] == ["BACK"]
        assert verify_entries(entries).valid
        while True:
            msg = json.loads(ws.recv(timeout=30))
            if msg["type"] == "event" and msg["event_type"] == "BACK":
                break


def _back(http: httpx.Client, h: dict[str, str], sid: str) -> None:
    """Log ``BACK`` until it commits (≤ 30 s): the node reconnects by itself, no restart."""
    end = time.monotonic() + 30
    while True:
        r = http.post(f"/api/session/{sid}/log", json={"event_type": "BACK"}, headers=h)
        if r.status_code == 200 or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


def _running(pg: PrivatePostgres) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", pg.port), 1):
        return True
    return False


def test_commands_in_flight_fail_with_503_whole_then_the_node_recovers(
    setup: tuple[ServerProcess, PrivatePostgres],
) -> None:
    node, pg = setup
    if not _running(pg):  # the module's other test may have failed with it stopped
        pg.start()
    try:
        with httpx.Client(base_url=node.base_url, timeout=30) as http:
            _cut_streams(http, node, pg)
    finally:
        if not _running(pg):
            pg.start()


def _cut_streams(http: httpx.Client, node: ServerProcess, pg: PrivatePostgres) -> None:
    r = http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
    tok = r.json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    sids = [
        http.post("/api/session/create", json={}, headers=h).json()["id"] for _ in range(SESSIONS)
    ]
    for sid in sids:
        http.post(f"/api/session/{sid}/start", headers=h).raise_for_status()
    acked: dict[str, Acked] = {sid: {} for sid in sids}
    delay = random.uniform(0.2, 0.6)
    ends, before = asyncio.run(_streams(node, pg, tok, acked, delay))

    # Every stream got through before the stop (else the test proves nothing)...
    assert all(before.values()), before
    # ...and ended on the command the stop refused: never a 500, a hang or a closed socket.
    for (sid, client), end in ends.items():
        n = _count(acked[sid], client)
        if client == "ws":
            assert isinstance(end, dict) and end["type"] == "error", (client, end)
            assert end["code"] == "unavailable" and end["temporary"] is True, end
            assert end["ref"] == n, (end, n)  # the first command that got no reply
        else:
            assert isinstance(end, httpx.Response), (client, end)
            assert end.status_code == 503 and end.json()["code"] == "unavailable", end.text
            assert end.headers.get("retry-after")

    pg.start()
    _back(http, h, sids[0])
    assert http.get("/readyz").status_code == 200
    clients = [f"h{k}" for k in range(HTTP_CLIENTS)] + ["ws"]
    ambiguous = 0
    for sid in sids:
        entries = read_log(http, h, sid)
        check_log(entries, acked[sid])
        maybe = _notes_are_the_streams(entries, acked[sid], clients)
        if sid == sids[0]:
            # Its batch was waiting on the row lock when the database stopped: it never
            # committed, so nothing of it may be in the log.
            assert maybe == 0, maybe
        ambiguous += maybe
        assert http.get(f"/api/session/{sid}/verify", headers=h).json()["valid"] is True
    total = sum(len(a) for a in acked.values())
    cut = sum(1 for end in ends.values() if _cut_mid_batch(end))
    print(
        f"{total} acknowledged ({sum(before.values())} before the stop at {delay:.2f} s);"
        f" of the {len(ends)} refused commands {cut} were in a batch cut mid-statement"
        f" and {ambiguous} committed all the same"
    )


async def _streams(
    node: ServerProcess, pg: PrivatePostgres, tok: str, acked: dict[str, Acked], delay: float
) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], int]]:
    """Every session's streams, cut by stopping PostgreSQL ``delay`` seconds in.

    Returns how each stream ended and how many acknowledgements it had got before the stop.
    """
    h = {"Authorization": f"Bearer {tok}"}
    limits = httpx.Limits(max_connections=SESSIONS * HTTP_CLIENTS + 4)
    async with (
        httpx.AsyncClient(base_url=node.base_url, timeout=15, limits=limits) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        sockets = [await stack.enter_async_context(_judge_socket(node, s, tok)) for s in acked]
        streams: dict[tuple[str, str], asyncio.Task[Any]] = {}
        for sid, ws in zip(acked, sockets, strict=True):
            for k in range(HTTP_CLIENTS):
                task = http_notes(http, h, sid, f"h{k}", acked[sid])
                streams[(sid, f"h{k}")] = asyncio.create_task(task)
            streams[(sid, "ws")] = asyncio.create_task(ws_notes(ws, "ws", acked[sid]))
        await asyncio.sleep(delay)
        # Hold the first session's row: its next batch waits on the lock inside the
        # database, so at least one batch is surely in flight when the stop lands.
        locker = await asyncpg.connect(pg.url)
        await locker.execute("BEGIN")
        held = next(iter(acked))
        await locker.execute(
            "SELECT 1 FROM courtroom_sessions WHERE id::text = $1 FOR UPDATE", held
        )
        await asyncio.sleep(0.3)
        before = {(sid, c): _count(acked[sid], c) for sid, c in streams}
        await asyncio.to_thread(pg.stop)
        locker.terminate()
        ends = await asyncio.wait_for(asyncio.gather(*streams.values()), 60)
    return dict(zip(streams, ends, strict=True)), before


@contextlib.asynccontextmanager
async def _judge_socket(node: ServerProcess, sid: str, tok: str) -> AsyncIterator[ClientConnection]:
    """A welcomed socket with the judge's token (an observer that may send ``log``)."""
    async with aconnect(f"{node.ws_base}/ws/sessions/{sid}", open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": tok, "as": "observer"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
        yield ws


def _notes_are_the_streams(entries: list[dict[str, Any]], acked: Acked, clients: list[str]) -> int:
    """Each client's NOTEs are its i = 0, 1, ... in order: the acknowledged ones, then at
    most the one that got ``unavailable`` (committed as its connection died). Returns
    how many such ambiguous commits there are."""
    logged: dict[str, list[int]] = {c: [] for c in clients}
    for e in entries:
        if e["event_type"] == "NOTE":
            d = e["details"]
            assert d.keys() == {"c", "i"} and d["c"] in logged, e  # a stray entry
            logged[d["c"]].append(d["i"])
    ambiguous = 0
    for c, got in logged.items():
        n = _count(acked, c)
        assert got in (list(range(n)), list(range(n + 1))), (c, n, got)
        ambiguous += len(got) - n
    return ambiguous


def _count(acked: Acked, client: str) -> int:
    return sum(1 for c, _ in acked if c == client)


def _cut_mid_batch(end: httpx.Response | dict[str, Any]) -> bool:
    """Whether a refusal came from a batch the stop cut (not from a connection refused
    after it): from the error's text, so for the summary line only."""
    text = end.json()["detail"] if isinstance(end, httpx.Response) else end["message"]
    return not any(s in text for s in ("refused", "shutting down", "starting up"))
