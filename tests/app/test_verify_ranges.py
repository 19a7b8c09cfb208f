"""Verify from the store in ranges (worker processes): the same result as one pass, tampered or not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, update

from protocol import VerifyResult
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate
from store._schema import session_log_entries as L
from store._verify import shutdown_pool

JUDGE = Actor("1", "JUDGE", "Judge")
ENTRIES = 40  # 1 SESSION_CREATED + 39 notes


def clock() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    yield
    shutdown_pool()


async def _session(store: SessionStore) -> str:
    court = Courtroom(store, MemoryBroker(), clock, RulesConfig())
    sid = (await court.create_session(JUDGE, title="ranges")).entries[0].session_id
    for i in range(ENTRIES - 1):
        await court.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
    return sid


async def _both(store: SessionStore, sid: str, workers: int) -> tuple[VerifyResult, VerifyResult]:
    one = await store.verify(sid, workers=1)
    # parallel_min=0: even this short log is split, into ranges of about 40 / workers.
    many = await store.verify(sid, workers=workers, parallel_min=0)
    return one, many


# (what is done to the stored log, the first bad sequence a single pass reports)
TAMPERS: list[tuple[str, dict[str, Any] | None, int, int | None]] = [
    ("details inside a range", {"details": '{"i": -1}'}, 7, 7),
    ("hash at a range's last row", {"hash_chain": "f" * 64}, 20, 20),
    ("link at a range's first row", {"previous_hash": "e" * 64}, 21, 21),
    ("actor in the last range", {"actor_id": "2"}, 39, 39),
    ("first entry", {"timestamp": "2020-01-01T00:00:00.000000+00:00"}, 1, 1),
    ("row deleted at a range's edge", None, 21, 22),
    ("row deleted inside a range", None, 10, 11),
    ("last row deleted", None, 40, None),
]


@pytest.mark.parametrize("workers", [3])
@pytest.mark.parametrize(("what", "values", "seq", "bad"), TAMPERS, ids=[t[0] for t in TAMPERS])
async def test_ranges_give_the_sequential_result(
    db_url: str,
    workers: int,
    what: str,
    values: dict[str, Any] | None,
    seq: int,
    bad: int | None,
) -> None:
    await migrate(db_url)
    store = SessionStore(db_url)
    try:
        sid = await _session(store)
        one, many = await _both(store, sid, workers)
        assert one.valid and one.entries == ENTRIES
        assert many == one
        async with store.write_engine.begin() as conn:
            where = (L.c.session_id == sid) & (L.c.sequence_number == seq)
            if values is None:
                await conn.execute(delete(L).where(where))
            else:
                await conn.execute(update(L).where(where).values(**values))
        one, many = await _both(store, sid, workers)
        assert many == one
        if bad is None:  # a cut tail: chain v1 alone cannot tell (checkpoints do)
            assert one.valid and one.entries == ENTRIES - 1
        else:
            assert not one.valid and one.first_invalid_sequence == bad
    finally:
        await store.close()
