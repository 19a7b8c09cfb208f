"""A client that stops reading is closed with 4001 and resumes from the log, while
its neighbours are served on time."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("slow"), env={"COURTROOM_OUTBOUND_QUEUE": "8"})
    proc.create_user("judge", "JUDGE", PASSWORD)
    with proc:
        yield proc


async def _judges_session(
    http: httpx.AsyncClient, server: ServerProcess
) -> tuple[dict[str, str], str, str]:
    """Log in as the judge and open a session: (auth headers, session id, socket URL)."""
    tok = (
        await http.post("/api/auth/login", data={"username": "judge", "password": PASSWORD})
    ).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    sid = (await http.post("/api/session/create", json={}, headers=h)).json()["id"]
    return h, sid, f"{server.ws_base}/ws/sessions/{sid}"


async def test_a_client_that_stops_reading_gets_4001(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        h, sid, url = await _judges_session(http, server)
        hello = json.dumps({"type": "hello", "v": 1, "token": None, "as": "observer"})
        # max_queue=1: the client library stops reading the socket when one frame
        # waits; a small receive buffer keeps the kernel from absorbing megabytes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect(("127.0.0.1", server.port))
        async with (
            connect(url, sock=sock, max_queue=1, max_size=2**22, compression=None) as slow,
            connect(url, max_size=2**22) as good,
        ):
            await slow.send(hello)
            welcome = json.loads(await slow.recv())
            await good.send(hello)
            json.loads(await good.recv())
            pad = secrets.token_hex(20_000)  # incompressible, should deflate be negotiated
            n = 400
            got_good = 0

            async def read_good() -> None:
                nonlocal got_good
                while got_good < n:
                    msg = json.loads(await good.recv())
                    if msg["type"] == "event" and msg["event_type"] == "PAD":
                        got_good += 1

            reader = asyncio.create_task(read_good())
            for i in range(n):
                r = await http.post(
                    f"/api/session/{sid}/log",
                    json={"event_type": "PAD", "details": {"i": i, "pad": pad}},
                    headers=h,
                )
                assert r.status_code == 200
            await asyncio.wait_for(reader, 30)
            assert got_good == n  # the neighbour missed nothing
            # Now the slow client reads: what the transport held, then the 4001 close.
            seen: list[int] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    try:
                        msg = json.loads(await asyncio.wait_for(slow.recv(), 10))
                    except TimeoutError:
                        raise AssertionError(
                            f"slow client stuck after {len(seen)} events"
                        ) from None
                    if msg["type"] == "event":
                        seen.append(msg["sequence_number"])
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            assert len(seen) < n
            assert seen == list(
                range(
                    welcome["head"]["sequence_number"] + 1,
                    welcome["head"]["sequence_number"] + 1 + len(seen),
                )
            )
        # It resumes from the last entry it has and gets the rest, exactly.
        last = seen[-1] if seen else welcome["head"]["sequence_number"]
        async with connect(url, max_size=2**22) as again:
            await again.send(
                json.dumps({"type": "hello", "v": 1, "as": "observer", "resume_from": last})
            )
            w = json.loads(await again.recv())
            assert w["recovered"] is True
            rest: list[int] = []
            while len(rest) < w["head"]["sequence_number"] - last:
                msg = json.loads(await again.recv())
                if msg["type"] == "event":
                    rest.append(msg["sequence_number"])
            assert rest == list(range(last + 1, w["head"]["sequence_number"] + 1))


def _direct_frames(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("courtroom_ws_frames_direct_total "):
            return float(line.split()[1])
    raise AssertionError("courtroom_ws_frames_direct_total missing from /metrics")


async def test_idle_sockets_get_frames_by_the_direct_path_in_order(server: ServerProcess) -> None:
    """Under uvicorn the server writes pre-built frames straight to idle sockets
    (server/live/wire.py); the clients see the same ordered stream as through ASGI."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        h, sid, url = await _judges_session(http, server)
        hello = json.dumps({"type": "hello", "v": 1, "as": "observer"})
        clients = [await connect(url, compression=None).__aenter__() for _ in range(3)]
        try:
            heads = []
            for ws in clients:
                await ws.send(hello)
                heads.append(json.loads(await ws.recv())["head"]["sequence_number"])
            before = _direct_frames((await http.get("/metrics")).text)
            n = 20
            for i in range(n):
                r = await http.post(
                    f"/api/session/{sid}/log",
                    json={"event_type": "NOTE", "details": {"i": i}},
                    headers=h,
                )
                assert r.status_code == 200
            for ws, head in zip(clients, heads, strict=True):
                notes: list[int] = []
                seqs: list[int] = []
                while len(notes) < n:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg["type"] == "event":
                        seqs.append(msg["sequence_number"])
                        if msg["event_type"] == "NOTE":
                            notes.append(msg["details"]["i"])
                assert notes == list(range(n))
                assert seqs == list(range(head + 1, head + 1 + len(seqs)))
            after = _direct_frames((await http.get("/metrics")).text)
            # Idle readers: (nearly) every one of the 3 x 20 deliveries is direct.
            assert after - before >= n * len(clients) * 0.9, (before, after)
        finally:
            for ws in clients:
                await ws.close()
