"""Frames that follow entries (checkpoints) leave each hub after the entries they cover."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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


async def test_a_frame_waits_for_the_entries_it_covers(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    store = SessionStore(sqlite_url)
    broker = MemoryBroker()
    hub = Hub(store, broker, clock)
    await hub.start()
    court = Courtroom(store, broker, clock, RulesConfig())
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        sub = Sub()
        await hub.attach(sub, sid)  # the channel's head is entry 1
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
    finally:
        await hub.close()
        await store.close()


async def test_arrivals_before_a_channel_share_one_read(sqlite_url: str) -> None:
    """A crowd arriving at a session this node does not mirror yet reads it once, not
    once an arrival (server/live/ws.py, ``_admission_facts``)."""
    await migrate(sqlite_url)
    store = SessionStore(sqlite_url)
    broker = MemoryBroker()
    hub = Hub(store, broker, clock)
    court = Courtroom(store, broker, clock, RulesConfig())
    reads = 0
    load = store.load

    async def counted(session_id: str) -> Any:
        nonlocal reads
        reads += 1
        return await load(session_id)

    store.load = counted  # type: ignore[method-assign]
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        states = await asyncio.gather(*(hub.stored_state(sid) for _ in range(200)))
        assert reads == 1
        assert {s["status"] for s in states} == {"pending"}
        await court.execute(sid, c.Start(), JUDGE)
        assert (await hub.stored_state(sid))["status"] == "active"  # nothing kept
        assert reads == 2
    finally:
        await store.close()
