"""Gap-free sequences under concurrency, on SQLite and PostgreSQL.

Three "nodes" (each its own engine, pool and per-process locks) fire commands
at one session at once, so only the database lock orders them: the log must
come out 1..N with a valid chain, and every refused command must write nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from protocol.errors import InvalidTransition
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import SessionStore, migrate

JUDGE = Actor("1", "JUDGE", "Judge")


def clock() -> int:
    import time

    return time.time_ns() // 1_000_000


async def nodes(url: str, n: int) -> list[Courtroom]:
    await migrate(url)
    return [Courtroom(SessionStore(url), MemoryBroker(), clock, RulesConfig()) for _ in range(n)]


@pytest.mark.parametrize("commands", [60])
async def test_concurrent_commands_get_consecutive_sequence_numbers(
    db_url: str, commands: int
) -> None:
    courts = await nodes(db_url, 3)
    try:
        created = await courts[0].create_session(JUDGE, title="race")
        sid = created.entries[0].session_id
        # Only one start can win; the other starts are refused and write nothing.
        cmds = [c.LogCustom("NOTE", {"i": i}) for i in range(commands)] + [
            c.Start() for _ in range(5)
        ]
        rr = itertools.cycle(courts)
        results = await asyncio.gather(
            *(next(rr).execute(sid, cmd, JUDGE) for cmd in cmds), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 4 and all(isinstance(r, InvalidTransition) for r in refused)
        store = courts[0].store
        entries = await store.entries(sid)
        assert [e.sequence_number for e in entries] == list(range(1, commands + 3))
        assert sorted(
            e.sequence_number
            for r in results
            if not isinstance(r, BaseException)
            for e in r.entries
        ) == list(range(2, commands + 3))
        v = await store.verify(sid)
        assert v.valid and v.entries == commands + 2
        notes = sorted(
            orjson_details(e.details_json)["i"] for e in entries if e.event_type == "NOTE"
        )
        assert notes == list(range(commands))
    finally:
        for court in courts:
            await court.store.close()


async def test_concurrent_sessions_do_not_interfere(db_url: str) -> None:
    courts = await nodes(db_url, 2)
    try:
        sids = [(await courts[0].create_session(JUDGE)).entries[0].session_id for _ in range(4)]
        jobs = [
            courts[i % 2].execute(sids[i % 4], c.LogCustom("NOTE", {"i": i}), JUDGE)
            for i in range(48)
        ]
        await asyncio.gather(*jobs)
        for sid in sids:
            entries = await courts[1].store.entries(sid)
            assert [e.sequence_number for e in entries] == list(range(1, 14))
            assert (await courts[1].store.verify(sid)).valid
    finally:
        for court in courts:
            await court.store.close()


def orjson_details(text: str) -> dict[str, int]:
    import orjson

    value: dict[str, int] = orjson.loads(text)
    return value


async def test_a_crowd_of_observers_is_logged_in_a_few_batches(db_url: str) -> None:
    from server.live.observers import ObserverGate

    (court,) = await nodes(db_url, 1)
    gate = ObserverGate(court)
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(200)]
        await asyncio.gather(*(gate.join(sid, oid, None) for oid in ids))
        await asyncio.gather(*(gate.leave(sid, oid) for oid in ids[:150]))
        entries = await court.store.entries(sid)
        joined = [orjson_any(e.details_json) for e in entries if e.event_type == "OBSERVER_JOINED"]
        left = [orjson_any(e.details_json) for e in entries if e.event_type == "OBSERVER_LEFT"]
        # Every arrival and departure is in the record, in far fewer entries.
        assert sorted(i for d in joined for i in d["observation_ids"]) == ids
        assert sorted(i for d in left for i in d["observation_ids"]) == ids[:150]
        assert len(joined) < 20 and len(left) < 20
        assert sum(d["count"] for d in joined) == 200
        state, _ = await court.store.load(sid)
        assert (state["observers_now"], state["observers_total"]) == (50, 200)
        assert (await court.store.observations(sid)) == {"total": 200, "current": 50}
        assert (await court.store.verify(sid)).valid
    finally:
        await gate.close()
        await court.store.close()


def orjson_any(text: str) -> dict[str, Any]:
    import orjson

    value: dict[str, Any] = orjson.loads(text)
    return value
