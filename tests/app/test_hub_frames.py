"""Frames that follow entries (checkpoints) leave each hub after the entries they cover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import orjson

from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.frames import OutFrame
from server.live.hub import Hub
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


class Outbox:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def push(self, frame: OutFrame, tick: OutFrame | None = None) -> bool:
        self.sent.append(orjson.loads(frame.data))
        return True

    def push_tick(self, frame: OutFrame) -> None:
        pass


class Sub:
    def __init__(self) -> None:
        self.outbound: Any = Outbox()
        self.syncing = False
        self.backlog: list[tuple[int, OutFrame]] = []
        self.is_observer = True

    def too_slow(self) -> None:
        raise AssertionError("not slow")


def _kinds(sub: Sub) -> list[str]:
    return [
        f"cp{m['tree_size']}" if m["type"] == "checkpoint" else str(m["sequence_number"])
        for m in sub.outbound.sent
        if m["type"] in ("checkpoint", "event")
    ]


class World(NamedTuple):
    store: SessionStore
    hub: Hub
    court: Courtroom
    broker: MemoryBroker
    sid: str


@asynccontextmanager
async def world(url: str) -> AsyncIterator[World]:
    """A store, a started hub and a courtroom on one broker, and one session."""
    await migrate(url)
    store = SessionStore(url)
    broker = MemoryBroker()
    hub = Hub(store, broker, clock)
    await hub.start()
    court = Courtroom(store, broker, clock, RulesConfig())
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        yield World(store, hub, court, broker, sid)
    finally:
        await hub.close()
        await store.close()


async def test_a_frame_waits_for_the_entries_it_covers(sqlite_url: str) -> None:
    async with world(sqlite_url) as w:
        broker, court, sid = w.broker, w.court, w.sid
        sub = Sub()
        await w.hub.attach(sub, sid)  # the channel's head is entry 1
        # Another node's checkpoint of size 3 arrives before entries 2 and 3 do.
        await broker.publish_frame(sid, 3, b'{"type": "checkpoint", "tree_size": 3}')
        assert _kinds(sub) == []
        await court.execute(sid, c.Start(), JUDGE)
        assert _kinds(sub) == ["2"]
        await court.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        assert _kinds(sub) == ["2", "3", "cp3"]
        # Its echo, or an older one, is dropped; one already covered leaves at once.
        await broker.publish_frame(sid, 3, b'{"type": "checkpoint", "tree_size": 3}')
        await broker.publish_frame(sid, 2, b'{"type": "checkpoint", "tree_size": 2}')
        assert _kinds(sub) == ["2", "3", "cp3"]
        await court.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        await broker.publish_frame(sid, 4, b'{"type": "checkpoint", "tree_size": 4}')
        assert _kinds(sub) == ["2", "3", "cp3", "4", "cp4"]


class FlakyLoads:
    """``store.load`` counted, failing its first ``failures`` calls, each after ``gate`` opens."""

    def __init__(self, store: SessionStore, failures: int = 0, gate: bool = True) -> None:
        self.load, self.failures, self.calls = store.load, failures, 0
        self.gate = asyncio.Event()
        if not gate:
            self.gate.set()
        store.load = self  # type: ignore[method-assign]

    async def __call__(self, session_id: str) -> Any:
        self.calls += 1
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away")
        return await self.load(session_id)


async def test_arrivals_before_a_channel_share_one_read(sqlite_url: str) -> None:
    """A crowd arriving at a session this node does not mirror yet reads it once, not
    once an arrival (server/live/ws.py, ``_admission_facts``)."""
    async with world(sqlite_url) as w:
        loads = FlakyLoads(w.store, gate=False)
        states = await asyncio.gather(*(w.hub.stored_state(w.sid) for _ in range(200)))
        assert loads.calls == 1
        assert {s["status"] for s in states} == {"pending"}
        await w.court.execute(w.sid, c.Start(), JUDGE)
        assert (await w.hub.stored_state(w.sid))["status"] == "active"  # nothing kept
        assert loads.calls == 2


async def _attach_all(w: World, flaky: FlakyLoads, n: int) -> list[Any]:
    tasks = [asyncio.create_task(w.hub.attach(Sub(), w.sid)) for _ in range(n)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert flaky.calls == 1  # the first attach loads; the others wait for its channel
    flaky.gate.set()
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)


async def test_attaches_waiting_on_a_failed_load_try_again(sqlite_url: str) -> None:
    """The first attach of a channel fails to read the session (the database went
    away): the attaches waiting for that channel must not wait forever. They load
    again; once the database answers they are in, and the channel works."""
    async with world(sqlite_url) as w:
        flaky = FlakyLoads(w.store, failures=1)
        results = await _attach_all(w, flaky, 5)
        assert isinstance(results[0], ConnectionError)
        ch = w.hub.channel(w.sid)
        assert ch is not None and all(r is ch for r in results[1:])
        assert flaky.calls == 2 and len(ch.subs) == 4 and ch.refs == 4
        await w.court.execute(w.sid, c.Start(), JUDGE)
        subs: list[Any] = list(ch.subs)
        assert all(_kinds(s) == ["2"] for s in subs)


async def test_attaches_fail_when_the_database_stays_away(sqlite_url: str) -> None:
    """Every load fails: every attach raises (none hangs) and no channel is left."""
    async with world(sqlite_url) as w:
        results = await _attach_all(w, FlakyLoads(w.store, failures=10**6), 5)
        assert all(isinstance(r, ConnectionError) for r in results)
        assert w.hub.channel(w.sid) is None and w.hub.connection_count() == 0


async def test_an_attach_cancelled_while_it_waits_leaves_no_channel(sqlite_url: str) -> None:
    async with world(sqlite_url) as w:
        flaky = FlakyLoads(w.store)
        first = asyncio.create_task(w.hub.attach(Sub(), w.sid))
        second = asyncio.create_task(w.hub.attach(Sub(), w.sid))
        for _ in range(5):
            await asyncio.sleep(0)
        second.cancel()  # its client went away while the channel loaded
        flaky.gate.set()
        ch = await first
        assert ch.refs == 1 and len(ch.subs) == 1
        await w.hub.detach(next(iter(ch.subs)), w.sid)
        assert w.hub.channel(w.sid) is None  # the cancelled wait held no reference
