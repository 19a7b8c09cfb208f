"""SQLite: a small batch runs on the event loop, with no thread hop; never if it would wait.

The writer's connection is shared by the loop (a batch of up to
``INLINE_JOBS``, when the write lock is free at once) and the writer thread
(a larger batch, and one that finds the lock taken). What must hold: the same commits either way, the
loop never blocked on another connection's lock, and ``synchronous=FULL``
(an fsync per commit) never on the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

import store._writer_sqlite as writer_sqlite
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import Decision, Head, SessionStore, TxInfo, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Note:
    event_type: str = "NOTE"
    details: dict[str, Any] = field(default_factory=lambda: {"i": 1})
    actor_id: str | None = None


def noting(threads: list[str]) -> Any:
    """A decide that appends one note and records the thread it ran on."""

    def decide(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        threads.append(threading.current_thread().name)
        state = orjson.loads(text)
        return Decision([_Note()], state, state["status"], None)

    return decide


async def _session(url: str, **kw: Any) -> tuple[SessionStore, str]:
    await migrate(url)
    store = SessionStore(url, **kw)
    ct = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    return store, (await ct.create_session(JUDGE)).entries[0].session_id


async def test_small_batches_run_on_the_loop_and_a_larger_one_on_the_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_sqlite, "INLINE_JOBS", 5)
    store, sid = await _session(sqlite_url)
    threads: list[str] = []
    try:
        await store.execute(sid, noting(threads), now=clock())
        await asyncio.gather(*(store.execute(sid, noting(threads), now=clock()) for _ in range(5)))
        await asyncio.gather(*(store.execute(sid, noting(threads), now=clock()) for _ in range(6)))
        loop_thread = threading.current_thread().name
        assert threads[:6] == [loop_thread] * 6  # a lone job, then a batch of five
        assert set(threads[6:]) == {"courtroom-writer_0"}  # a batch of six, on the thread
        assert len(threads) == 12
        assert [e.sequence_number for e in await store.entries(sid)] == list(range(1, 14))
        assert (await store.verify(sid)).valid
    finally:
        await store.close()


async def test_a_lone_command_waits_for_a_taken_lock_on_the_thread(sqlite_url: str) -> None:
    store, sid = await _session(sqlite_url)
    threads: list[str] = []
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    try:
        await store.execute(sid, noting(threads), now=clock())  # the connection is open
        other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        pending = asyncio.ensure_future(store.execute(sid, noting(threads), now=clock()))
        ticks = 0
        for _ in range(20):  # the loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not pending.done()
        other.execute("ROLLBACK")
        done = await asyncio.wait_for(pending, 10)
        assert done.head.sequence_number == 3
        # The first on the loop; the second found the lock taken before its rules
        # ran (so they ran once), and was written on the thread.
        assert threads == [threading.current_thread().name, "courtroom-writer_0"]
        assert (await store.verify(sid)).valid
    finally:
        other.close()
        await store.close()


async def test_with_an_fsync_per_commit_every_batch_goes_to_the_thread(sqlite_url: str) -> None:
    store, sid = await _session(sqlite_url, sqlite_synchronous="FULL")
    threads: list[str] = []
    try:
        for _ in range(3):
            await store.execute(sid, noting(threads), now=clock())
        assert set(threads) == {"courtroom-writer_0"}
    finally:
        await store.close()
