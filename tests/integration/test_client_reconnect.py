"""The Python client against a real server process that is killed and restarted.

One uvicorn process (SQLite in a temporary data directory) serves the whole
module. Each reconnect test follows a session through a :class:`TcpProxy`, so
that after the restart the proxy keeps the client away while entries are
committed, then lets it back: the client must resume with ``resume_from`` and
deliver exactly ``1..N``, once each, with a verifying chain that matches the
server's own export. The command-line tools run as real subprocesses.

The last section drives the paths a healthy server never takes (a gap, a
slow consumer, a lost reply, a tampered event) with a scripted fake
WebSocket server on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from clients import (
    Backoff,
    CommandError,
    ConnectionClosedError,
    ConnectionStatus,
    CourtroomClient,
    Event,
    HttpApi,
    Tick,
    reconnect_after,
    verify_lines,
)
from protocol import GENESIS_HASH, entry_hash
from tests.integration.procs import ServerProcess, TcpProxy, judge_server

pytestmark = pytest.mark.integration

PASSWORD = "judge-password-123"
FAST = Backoff(initial=0.05, maximum=0.5)
WAIT = 20.0  # seconds for anything that should take well under one


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with judge_server(tmp_path_factory.mktemp("court"), PASSWORD) as proc:
        yield proc


@pytest.fixture
async def judge(server: ServerProcess) -> AsyncIterator[HttpApi]:
    async with HttpApi(server.base_url) as api:
        await api.login("judge", PASSWORD)
        yield api


@pytest.fixture
async def proxy(server: ServerProcess) -> AsyncIterator[TcpProxy]:
    async with TcpProxy(server.port) as p:
        yield p


async def new_session(api: HttpApi) -> str:
    session = await api.request("POST", "/api/session/create", json={"title": "reconnect"})
    sid = str(session["id"])
    await api.request("POST", f"/api/session/{sid}/start")
    return sid


async def note(api: HttpApi, sid: str, i: int) -> int:
    r = await api.request(
        "POST", f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"i": i}}
    )
    return int(r["sequence_number"])


async def head(api: HttpApi, sid: str) -> int:
    return int((await api.request("GET", f"/api/session/{sid}"))["head"]["sequence_number"])


class Collector:
    """Drains a client into a list in the background."""

    def __init__(self, client: CourtroomClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self.ticks: list[Tick] = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for msg in self.client:
                if isinstance(msg, Event):
                    self.events.append(msg)
                else:
                    self.ticks.append(msg)
        except Exception as exc:
            self.error = exc

    async def until(self, seq: int) -> None:
        async with asyncio.timeout(WAIT):
            while not self.events or self.events[-1].sequence_number < seq:
                assert self.error is None, self.error
                await asyncio.sleep(0.01)

    @property
    def seqs(self) -> list[int]:
        return [e.sequence_number for e in self.events]


async def settle(api: HttpApi, sid: str, got: Collector) -> int:
    """Wait until the client has everything the server has (its own joins included)."""
    async with asyncio.timeout(WAIT):
        while True:
            n = await head(api, sid)
            await got.until(n)
            if await head(api, sid) == n:
                return n


async def assert_matches_export(api: HttpApi, sid: str, got: Collector, n: int) -> None:
    assert got.seqs == list(range(1, n + 1)), "a gap or a duplicate"
    assert got.client.verified
    assert got.client.first_bad_sequence is None
    verify = await api.request("GET", f"/api/session/{sid}/verify")
    assert verify["valid"] and verify["entries"] == n
    assert got.client.head_hash == verify["head_hash"]
    buf = io.BytesIO()
    await api.export(sid, buf)
    exported = [Event.from_entry(json.loads(line)) for line in buf.getvalue().splitlines()]
    assert exported == got.events
    assert verify_lines(buf.getvalue().splitlines()).valid


async def test_resumes_after_sigkill_with_no_gap_and_no_duplicate(
    server: ServerProcess, judge: HttpApi, proxy: TcpProxy
) -> None:
    sid = await new_session(judge)
    statuses: list[ConnectionStatus] = []
    client = CourtroomClient(proxy.base_url, sid, backoff=FAST, on_status=statuses.append)
    async with client:
        got = Collector(client)
        for i in range(3):
            await note(judge, sid, i)
        before = await settle(judge, sid, got)

        await asyncio.to_thread(server.kill)
        proxy.block()  # the client stays away until we say so
        await asyncio.to_thread(server.start)
        for i in range(3, 8):
            await note(judge, sid, i)  # committed while the client is away
        missed_up_to = await head(judge, sid)
        assert client.last_sequence == before  # it really was away
        proxy.unblock()

        n = await settle(judge, sid, got)
        for i in range(8, 10):  # and live again afterwards
            await note(judge, sid, i)
        n = await settle(judge, sid, got)
        await assert_matches_export(judge, sid, got, n)

        lost = [s for s in statuses if s.state == "disconnected"]
        assert lost and lost[0].code == 1006  # no close frame from a killed process
        assert client.welcome is not None and client.welcome.recovered is True
        assert client.reconnects >= 1
        assert missed_up_to > before
        assert got.error is None


async def test_resumes_after_sigterm_restart(
    server: ServerProcess, judge: HttpApi, proxy: TcpProxy
) -> None:
    sid = await new_session(judge)
    statuses: list[ConnectionStatus] = []
    client = CourtroomClient(proxy.base_url, sid, backoff=FAST, on_status=statuses.append)
    async with client:
        got = Collector(client)
        await note(judge, sid, 0)
        await settle(judge, sid, got)

        assert await asyncio.to_thread(server.terminate) in (0, -15)
        proxy.block()
        await asyncio.to_thread(server.start)
        for i in range(1, 5):
            await note(judge, sid, i)
        proxy.unblock()
        n = await settle(judge, sid, got)
        await assert_matches_export(judge, sid, got, n)

    closes = [s.code for s in statuses if s.state == "disconnected"]
    assert closes, statuses
    # A graceful shutdown sends a close frame that says "come back" ...
    assert closes[0] != 1006 and closes[0] is not None and reconnect_after(closes[0])
    # ... and PROTOCOL.md says which one (server/http/serve.py closes before uvicorn's 1012).
    assert closes[0] == 1001


async def test_commands_replies_and_refusals(server: ServerProcess, judge: HttpApi) -> None:
    sid = await new_session(judge)
    client = CourtroomClient(
        server.base_url, sid, token=judge.token, as_="participant", role="judge", resume_from=None
    )
    async with client:
        paused = await client.command("session.pause")
        assert paused["sequence_number"] == paused["entries"][-1]
        with pytest.raises(CommandError) as info:
            await client.command("session.pause")
        assert info.value.code == "conflict"
        await client.command("session.resume")
        logged = await client.command("log", event_type="NOTE", details={"text": "ok"})
        assert logged["entries"] == [logged["sequence_number"]]
        rtt = await client.ping()
        assert 0 <= rtt < 5
        assert client.clock_offset_ms is not None
        server_now = client.server_time_ms()
        assert server_now is not None
        assert abs(server_now - time.time() * 1000) < 2000  # same machine, same clock
        await client.leave()
    assert client.verified


async def test_terminal_close_ends_iteration(server: ServerProcess) -> None:
    client = CourtroomClient(server.base_url, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(ConnectionClosedError) as info:
        await client.connect()
    assert info.value.code == 4404
    with pytest.raises(ConnectionClosedError):
        await anext(client)
    await client.close()


def run_cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


async def test_cli_judge_watch_export_verify(
    server: ServerProcess, judge: HttpApi, tmp_path: Path
) -> None:
    sid = await new_session(judge)
    script = tmp_path / "judge.txt"
    script.write_text(
        'session.pause\n-session.pause\nwait 0.1\nsession.resume\nlog NOTE {"text": "hi"}\nping\n'
    )
    url = server.base_url
    done = await asyncio.to_thread(
        run_cli, "judge", url, sid, "-u", "judge", "--password-stdin", str(script), input=PASSWORD
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "< error conflict" in done.stdout and done.stdout.count("< ok") == 3

    watched = await asyncio.to_thread(
        run_cli, "watch", url, sid, "--json", "--until", "NOTE", "--no-ticks"
    )
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert [json.loads(x)["sequence_number"] for x in lines] == list(range(1, len(lines) + 1))

    # The watcher's departure is logged a moment after it closed (observer changes
    # gather for a short window): export once it is, so the export is the whole log.
    for _ in range(100):
        logged = await judge.request("GET", f"/api/session/{sid}/logs")
        if any(e["event_type"] == "OBSERVER_LEFT" for e in logged["entries"]):
            break
        await asyncio.sleep(0.05)
    out = tmp_path / "session.jsonl"
    done = await asyncio.to_thread(
        run_cli, "export", url, sid, "-o", str(out), "--token", str(judge.token)
    )
    assert done.returncode == 0, done.stderr
    checked = await asyncio.to_thread(run_cli, "verify", str(out))
    assert checked.returncode == 0, checked.stdout
    n = await head(judge, sid)
    assert checked.stdout.startswith(f"valid: {n} entries, head ")
    # The watched stream is a prefix of the export, byte for byte as entries.
    exported = out.read_text().splitlines()
    assert [json.loads(x) for x in lines] == [json.loads(x) for x in exported[: len(lines)]]

    out.write_text(out.read_text().replace('"hi"', '"bye"'))
    tampered = await asyncio.to_thread(run_cli, "verify", str(out))
    assert tampered.returncode == 1
    assert "first bad entry is sequence" in tampered.stdout


# -- the connection logic against a scripted fake server -----------------------
#
# A real server never skips an entry on purpose, so the gap, overflow and
# refusal paths are driven by a tiny WebSocket server that plays a script per
# connection and records each hello.

FAKE_SID = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"


def fake_chain(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        ts = f"2026-02-15T10:00:{seq:02d}.000000+00:00"
        h = entry_hash(FAKE_SID, seq, ts, "NOTE", None, {"i": seq}, prev)
        out.append(
            {
                "type": "event",
                "session_id": FAKE_SID,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": "NOTE",
                "actor_id": None,
                "details": {"i": seq},
                "previous_hash": prev,
                "hash": h,
            }
        )
        prev = h
    return out


CHAIN = fake_chain(12)
Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


class FakeServer:
    """Runs ``scripts[i]`` for the i-th connection (the last one repeats)."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.hellos: list[dict[str, Any]] = []
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        self.hellos.append(hello)
        script = self.scripts[min(len(self.hellos), len(self.scripts)) - 1]
        with contextlib.suppress(ConnectionClosed):
            await script(ws, hello)
            await ws.wait_closed()

    @property
    def resumes(self) -> list[int | None]:
        return [h.get("resume_from") for h in self.hellos]


async def send_welcome(ws: ServerConnection, head: int) -> None:
    await ws.send(
        json.dumps(
            {
                "type": "welcome",
                "v": 1,
                "session": {"status": "active"},
                "head": {
                    "sequence_number": head,
                    "hash": CHAIN[head - 1]["hash"] if head else "0" * 64,
                },
                "recovered": True,
                "server_time_ms": int(time.time() * 1000),
                "you": {},
            }
        )
    )


async def send_events(ws: ServerConnection, *seqs: int) -> None:
    for seq in seqs:
        await ws.send(json.dumps(CHAIN[seq - 1]))


def fake_client(url: str, **kwargs: Any) -> CourtroomClient:
    return CourtroomClient(url, FAKE_SID, backoff=Backoff(0.01, 0.05), **kwargs)


async def take(client: CourtroomClient, n: int) -> list[int]:
    out: list[int] = []
    async with asyncio.timeout(WAIT):
        async for msg in client:
            if isinstance(msg, Event):
                out.append(msg.sequence_number)
                if len(out) == n:
                    break
    return out


async def test_fake_gap_resumes_before_delivering_later_entries() -> None:
    async def first(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 5)
        await send_events(ws, 1, 2, 4, 5)  # 3 is lost

    async def second(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 5)
        await send_events(ws, 2, 3, 4, 5, 6)  # overlaps what was delivered

    async with FakeServer(first, second) as fake, fake_client(fake.url) as client:
        assert await take(client, 6) == [1, 2, 3, 4, 5, 6]
        assert fake.resumes == [0, 2]
        assert client.gaps_seen == 1 and client.duplicates_dropped == 1
        assert client.verified and client.head_hash == CHAIN[5]["hash"]


async def test_fake_reconnect_codes_then_terminal() -> None:
    async def overloaded(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 2)
        await send_events(ws, 1, 2)
        await ws.close(1013, "busy")

    async def slow(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 3)
        await send_events(ws, 3)
        await ws.close(4001, "too slow")

    async def forbidden(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await ws.send(
            json.dumps({"type": "error", "ref": None, "code": "forbidden", "message": "no"})
        )
        await ws.close(4403, "forbidden")

    statuses: list[ConnectionStatus] = []
    async with FakeServer(overloaded, slow, forbidden) as fake:
        client = fake_client(fake.url, on_status=statuses.append)
        await client.connect()
        assert await take(client, 3) == [1, 2, 3]
        with pytest.raises(ConnectionClosedError) as info:
            async with asyncio.timeout(WAIT):
                await anext(client)
        await client.close()
    assert info.value.code == 4403
    assert fake.resumes == [0, 2, 3]
    assert [s.code for s in statuses if s.state == "disconnected"] == [1013, 4001]
    assert statuses[-1].state == "closed" and statuses[-1].code == 4403


async def test_fake_command_lost_with_the_connection_and_refused() -> None:
    async def drops(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 0)
        await ws.recv()  # the command: no answer, the server "crashes"
        await ws.close(1011, "internal error")

    async def answers(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 0)
        async for frame in ws:
            msg = json.loads(frame)
            if msg["type"] == "ping":
                await ws.send(
                    json.dumps(
                        {
                            "type": "pong",
                            "ref": msg["id"],
                            "server_time_ms": int(time.time() * 1000),
                        }
                    )
                )
            elif msg["type"] == "session.pause":
                await ws.send(
                    json.dumps(
                        {
                            "type": "reply",
                            "ref": msg["id"],
                            "ok": True,
                            "result": {"sequence_number": 1},
                        }
                    )
                )
            else:
                await ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            "ref": msg["id"],
                            "code": "conflict",
                            "message": "not now",
                            "temporary": False,
                        }
                    )
                )

    async with FakeServer(drops, answers) as fake, fake_client(fake.url) as client:
        with pytest.raises(ConnectionClosedError) as info:
            await client.command("session.pause")
        assert info.value.code == 1011
        # The client reconnects by itself; the next command waits for it.
        assert await client.command("session.pause") == {"sequence_number": 1}
        with pytest.raises(CommandError) as refused:
            await client.command("session.resume")
        assert (refused.value.code, refused.value.message) == ("conflict", "not now")
        assert await client.ping() >= 0
        assert client.clock_offset_ms is not None
        with pytest.raises(ValueError):
            await client.command("ping")


async def test_fake_slow_consumer_hangs_up_and_resumes_when_drained() -> None:
    async def flood(ws: ServerConnection, hello: dict[str, Any]) -> None:
        start = hello["resume_from"]
        await send_welcome(ws, 12)
        await send_events(ws, *range(start + 1, 13))

    async with FakeServer(flood) as fake, fake_client(fake.url, queue_size=4) as client:
        async with asyncio.timeout(WAIT):
            while len(fake.hellos) < 1 or client.connected:
                await asyncio.sleep(0.01)  # the queue fills and the client hangs up
        assert client.last_sequence == 4
        got = await take(client, 12)
    assert got == list(range(1, 13))
    assert fake.resumes[:2] == [0, 4]


async def test_fake_tampered_event_is_flagged() -> None:
    async def tampered(ws: ServerConnection, hello: dict[str, Any]) -> None:
        await send_welcome(ws, 3)
        bad = dict(CHAIN[1], details={"i": 200})
        await ws.send(json.dumps(CHAIN[0]))
        await ws.send(json.dumps(bad))
        await ws.send(json.dumps(CHAIN[2]))

    async with FakeServer(tampered) as fake, fake_client(fake.url) as client:
        assert await take(client, 3) == [1, 2, 3]
        assert not client.verified
        assert client.first_bad_sequence == 2
