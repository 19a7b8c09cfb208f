"""Observers' presence rows, queued without waiting (``wait=False``), on a real store.

They are deferred in the writer (``store/_writer.py``): written with the next
batch that a command starts, or by themselves shortly after. Either way every
row reaches the database, and a command queued after them finds them written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import ClusterStore, SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def _observe(cluster: ClusterStore, sid: str, n: int) -> None:
    await cluster.add_connection(
        connection_id=f"00000000-0000-4000-8000-{n:012d}",
        session_id=sid,
        node="node-a",
        kind="observer",
        user_id=None,
        observation_id=f"10000000-0000-4000-8000-{n:012d}",
        now=clock(),
        wait=False,
    )


@contextlib.asynccontextmanager
async def _session(url: str) -> AsyncIterator[tuple[Courtroom, ClusterStore, str]]:
    """A store, its courtroom and cluster view, and a new session; closed after."""
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig(), node_id="node-a")
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        yield court, ClusterStore(store), sid
    finally:
        await store.close()


async def test_unwaited_rows_are_written_before_a_later_command_returns(sqlite_url: str) -> None:
    async with _session(sqlite_url) as (court, cluster, sid):
        for n in range(5):
            await _observe(cluster, sid, n)  # returns before its row is written
        await court.execute(sid, LogCustom("NOTE", {}), JUDGE)
        assert await cluster.observers(sid) == 5


async def test_an_unwaited_row_alone_is_written_without_a_command(sqlite_url: str) -> None:
    async with _session(sqlite_url) as (_, cluster, sid):
        await _observe(cluster, sid, 1)
        async with asyncio.timeout(10):
            while await cluster.observers(sid) != 1:
                await asyncio.sleep(0.005)
