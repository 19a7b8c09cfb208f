"""The observer gate's pause: the window, stretched by the audience (server/live/observers.py).

Time is driven, not slept through: the gate takes its pause's ``sleep``, and
these tests hand it one that records the pause and waits for the test to end it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from server.live.observers import AUDIENCE_UNIT, MAX_STRETCHED_S, ObserverGate, pause_s
from tests.app.test_concurrency import JUDGE, nodes


def test_the_pause_is_the_window_until_the_audience_passes_the_unit() -> None:
    assert pause_s(0.25, 0) == 0.25
    assert pause_s(0.25, AUDIENCE_UNIT) == 0.25
    assert pause_s(0.25, 2 * AUDIENCE_UNIT) == 0.5
    assert pause_s(0.25, 10_000) == pytest.approx(2.5)
    assert pause_s(0.0, 10_000) == 0.0
    # the deliveries a second of observer changes stay at about AUDIENCE_UNIT / window
    for audience in (1_000, 5_000, 20_000):
        assert audience / pause_s(0.25, audience) == pytest.approx(AUDIENCE_UNIT / 0.25)
    # up to a bound: the record of arrivals waits no longer than that for the stretch
    assert pause_s(0.25, 100_000) == MAX_STRETCHED_S
    assert pause_s(1.0, 4_000) == 4.0
    assert pause_s(10.0, 100_000) == 10.0  # a longer window is kept as set


class DrivenSleep:
    """A pause that lasts until the test ends it; records how long it was asked to be."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._go = asyncio.Event()
        self.waiting = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.waiting.set()
        await self._go.wait()
        self._go.clear()

    async def end(self) -> None:
        self.waiting.clear()
        self._go.set()


def _joined(entries: list[Any]) -> list[list[str]]:
    return [
        orjson.loads(e.details_json)["observation_ids"]
        for e in entries
        if e.event_type == "OBSERVER_JOINED"
    ]


async def test_arrivals_gather_for_a_pause_that_grows_with_the_audience(db_url: str) -> None:
    (court,) = await nodes(db_url, 1)
    audience = {"n": 0}
    sleep = DrivenSleep()
    gate = ObserverGate(court, window_ms=250, audience=lambda _sid: audience["n"], sleep=sleep)
    ids = sorted(str(uuid.uuid4()) for _ in range(5))  # observation ids are unique store-wide
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        # A lone arrival in a small room: logged at once, then the window.
        await gate.join(sid, ids[0], None)
        await sleep.waiting.wait()
        assert sleep.asked == [0.25]
        # Arrivals during the pause wait for it, and then go in together.
        audience["n"] = 5 * AUDIENCE_UNIT
        later = [gate.join_nowait(sid, i, None) for i in ids[1:4]]
        await asyncio.sleep(0)
        assert not any(f.done() for f in later)
        await sleep.end()
        await asyncio.gather(*later)
        await sleep.waiting.wait()
        assert sleep.asked == [0.25, 1.25]  # this node now delivers to 5,000
        assert _joined(await court.store.entries(sid)) == [ids[:1], ids[1:4]]
        # The pause ends with nothing queued: the next arrival is logged at once.
        await sleep.end()
        await asyncio.sleep(0)
        await gate.join(sid, ids[4], None)
        assert _joined(await court.store.entries(sid))[-1] == ids[4:]
        await sleep.end()
    finally:
        await gate.close()
        await court.store.close()


async def test_closing_cuts_the_pause_short_and_logs_what_waits(db_url: str) -> None:
    (court,) = await nodes(db_url, 1)
    sleep = DrivenSleep()  # a pause that this test never ends
    gate = ObserverGate(court, window_ms=250, audience=lambda _sid: 0, sleep=sleep)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        sid = (await court.create_session(JUDGE)).entries[0].session_id
        await gate.join(sid, first, None)
        await sleep.waiting.wait()
        joining = gate.join_nowait(sid, second, None)
        leaving = asyncio.ensure_future(gate.leave(sid, first))
        await asyncio.sleep(0)
        await asyncio.wait_for(gate.close(), 5)  # not a pause later: at once
        await asyncio.gather(joining, leaving)
        entries = await court.store.entries(sid)
        assert _joined(entries) == [[first], [second]]
        left = [e for e in entries if e.event_type == "OBSERVER_LEFT"]
        assert [orjson.loads(e.details_json)["observation_ids"] for e in left] == [[first]]
        assert sleep.asked == [0.25]
    finally:
        await court.store.close()


async def test_the_audience_is_this_nodes_connections_or_the_logged_observers(
    sqlite_url: str,
) -> None:
    from server.rules import commands as c
    from tests.app.test_hub_frames import Sub, world

    async with world(sqlite_url) as w:
        assert w.hub.audience("no-such-session") == 0
        subs = [Sub(), Sub()]
        for sub in subs:
            await w.hub.attach(sub, w.sid)
        assert w.hub.audience(w.sid) == 2
        # Another node's crowd: its arrivals reach this node as entries.
        crowd = tuple(c.Observation(str(uuid.uuid4()), None) for _ in range(5))
        await w.court.execute(w.sid, c.Observe(crowd), JUDGE)
        assert w.hub.audience(w.sid) == 5
        await w.hub.detach(subs[0], w.sid)
        assert w.hub.audience(w.sid) == 5
