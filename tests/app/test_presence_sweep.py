"""A dead node's connections whose departures fail to commit are logged at the next sweep.

The sweeper takes a dead node's rows (deleting them, so that no other node logs
them twice) and then logs each departure; if the database refuses that write
(it is down), nothing else knows those connections any more, so the sweeper
keeps them and tries again. Real SQLite; the database "down" for one batch is
the writer's backend raising ``Unavailable``, as it does for a lost database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from protocol.errors import Unavailable
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.observers import ObserverGate
from server.live.presence import PresenceTracker
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import ClusterStore, SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    return time.time_ns() // 1_000_000


async def test_a_departure_that_fails_to_commit_is_logged_at_the_next_sweep(
    sqlite_url: str,
) -> None:
    await migrate(sqlite_url)
    store = SessionStore(sqlite_url)
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig(), node_id="node-a")
    observers = ObserverGate(court, window_ms=0)
    cluster = ClusterStore(store)
    tracker = PresenceTracker(cluster, court, observers, node_ttl_ms=400, grace_ms=0)
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        await cluster.heartbeat("ghost-node", 1)  # last heard of in 1970
        await cluster.add_connection(
            connection_id="00000000-0000-4000-8000-000000000001",
            session_id=sid,
            node="ghost-node",
            kind="observer",
            user_id=None,
            observation_id="obs-1",
            now=1,
        )
        backend: Any = store.writer._backend
        real = backend.run
        down = {"batches": 1}

        async def flaky(jobs: Sequence[Any]) -> list[Any]:
            if down["batches"]:
                down["batches"] -= 1
                raise Unavailable("database unavailable: connection refused")
            return list(await real(jobs))

        backend.run = flaky
        assert await tracker.sweep() == 0  # taken, but its departure did not commit
        assert [e.event_type for e in await store.entries(sid)] == ["SESSION_CREATED"]
        assert await cluster.take_node_connections("ghost-node") == []  # the row is gone

        assert await tracker.sweep() == 1  # the database is back
        left = [e for e in await store.entries(sid) if e.event_type == "OBSERVER_LEFT"]
        assert len(left) == 1 and left[0].as_dict()["details"]["observation_ids"] == ["obs-1"]
        assert await tracker.sweep() == 0  # nothing twice
        assert len(await store.entries(sid)) == 2
    finally:
        await observers.close()
        await store.close()
