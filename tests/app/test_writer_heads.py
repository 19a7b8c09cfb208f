"""PostgreSQL's remembered-head path (``store/_heads.py``) against a real database.

A command on a session whose row this writer committed last is one
conditional statement; a row changed behind the writer's back (another node's
command, a timer claim, a lease renewal) must never be overwritten from the
stale memory: the conditional write refuses it and the jobs run again under
the row lock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from protocol.errors import Unavailable
from server.rules import commands as c
from store import Decision, Head, TxInfo
from store._writer_pg import PgBackend

from .test_writer import JUDGE, clock, court

pytestmark = pytest.mark.postgres


def backend(ct: Any) -> PgBackend:
    b = ct.store.writer._backend
    assert isinstance(b, PgBackend)
    return b


async def test_a_remembered_session_is_written_in_one_statement(pg_migrated: str) -> None:
    ct = await court(pg_migrated)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {"i": 0}), JUDGE)  # remembered from here
        fast = backend(ct).fast_batches
        for i in range(1, 6):
            done = await ct.execute(sid, c.LogCustom("NOTE", {"i": i}), JUDGE)
            assert done.head.sequence_number == i + 2
        assert backend(ct).fast_batches == fast + 5
        entries = await ct.store.entries(sid)
        assert [e.sequence_number for e in entries] == list(range(1, 8))
        assert (await ct.store.verify(sid)).valid
    finally:
        await ct.store.close()


async def test_another_writers_command_is_never_overwritten(pg_migrated: str) -> None:
    a, b = await court(pg_migrated), await court(pg_migrated)
    try:
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        other = (await a.create_session(JUDGE)).entries[0].session_id
        for ct in (a, b, a):
            await ct.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        await a.execute(other, c.LogCustom("NOTE", {}), JUDGE)
        # ``a`` remembers sid at 4; ``b`` moves it on to 5 behind a's back.
        await b.execute(sid, c.LogCustom("NOTE", {"by": "b"}), JUDGE)
        fast = backend(a).fast_batches
        stale, fresh = await asyncio.gather(
            a.execute(sid, c.LogCustom("NOTE", {"by": "a"}), JUDGE),
            a.execute(other, c.LogCustom("NOTE", {"by": "a"}), JUDGE),
        )
        # One batch: ``other`` was written by the conditional statement, sid again under its lock.
        assert backend(a).fast_batches == fast + 1
        assert stale.head.sequence_number == 6 and fresh.head.sequence_number == 3
        entries = await a.store.entries(sid)
        assert [e.sequence_number for e in entries] == list(range(1, 7))
        assert [e.as_dict()["details"].get("by") for e in entries[-2:]] == ["b", "a"]
        assert (await a.store.verify(sid)).valid and (await a.store.verify(other)).valid
        # And remembered again from the locked read: the next one is fast.
        await a.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        assert backend(a).fast_batches == fast + 2
    finally:
        await a.store.close()
        await b.store.close()


async def test_a_redo_cut_off_fails_only_its_own_jobs(
    pg_migrated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the conditional statement half-wrote: the sessions it wrote committed, so
    their commands succeed even when the redo of the others loses the database."""
    a, b = await court(pg_migrated), await court(pg_migrated)
    try:
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        other = (await a.create_session(JUDGE)).entries[0].session_id
        for s in (sid, other):
            await a.execute(s, c.LogCustom("NOTE", {}), JUDGE)  # remembered by a
        await b.execute(sid, c.LogCustom("NOTE", {"by": "b"}), JUDGE)  # behind a's back
        pa = backend(a)

        async def lost(conn: Any, jobs: Any) -> list[Any]:
            raise Unavailable("database unavailable: the connection was lost")

        monkeypatch.setattr(pa, "_locked", lost)
        stale, fresh = await asyncio.gather(
            a.execute(sid, c.LogCustom("NOTE", {"by": "a"}), JUDGE),
            a.execute(other, c.LogCustom("NOTE", {"by": "a"}), JUDGE),
            return_exceptions=True,
        )
        monkeypatch.undo()
        assert isinstance(stale, Unavailable), stale
        assert not isinstance(fresh, BaseException) and fresh.head.sequence_number == 3
        assert [e.as_dict()["details"].get("by") for e in await a.store.entries(other)] == [
            None,
            None,
            "a",
        ]
        assert [e.as_dict()["details"].get("by") for e in await a.store.entries(sid)][-1] == "b"
        # The cut connection is not handed to the next batch: it writes.
        again = await a.execute(sid, c.LogCustom("NOTE", {"by": "a"}), JUDGE)
        assert again.head.sequence_number == 4
        assert (await a.store.verify(sid)).valid and (await a.store.verify(other)).valid
    finally:
        await a.store.close()
        await b.store.close()


async def test_a_lone_stale_session_is_written_again_under_its_lock(pg_migrated: str) -> None:
    """One session alone takes the plain-parameter statement; its condition holds the same."""
    a, b = await court(pg_migrated), await court(pg_migrated)
    try:
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        await a.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        await b.execute(sid, c.LogCustom("NOTE", {"by": "b"}), JUDGE)  # behind a's back
        fast = backend(a).fast_batches
        done = await a.execute(sid, c.LogCustom("NOTE", {"by": "a"}), JUDGE)
        # The conditional statement ran, matched nothing, and the locked path wrote it.
        assert done.head.sequence_number == 4 and backend(a).fast_batches == fast + 1
        entries = await a.store.entries(sid)
        assert [e.as_dict()["details"].get("by") for e in entries[-2:]] == ["b", "a"]
        assert (await a.store.verify(sid)).valid
    finally:
        await a.store.close()
        await b.store.close()


@pytest.mark.parametrize("events", [3, 17])  # plain parameters; past their cap, the arrays
async def test_a_command_of_several_entries_on_the_remembered_path(
    pg_migrated: str, events: int
) -> None:
    ct = await court(pg_migrated)
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        await ct.execute(sid, c.LogCustom("NOTE", {}), JUDGE)
        fast = backend(ct).fast_batches
        done = await ct.store.execute(sid, _notes(events), now=clock())
        assert backend(ct).fast_batches == fast + 1
        assert [e.sequence_number for e in done.entries] == list(range(3, 3 + events))
        written = (await ct.store.entries(sid))[2:]
        assert [e.as_dict()["details"]["n"] for e in written] == list(range(events))
        assert (await ct.store.verify(sid)).valid
    finally:
        await ct.store.close()


async def test_a_timer_claim_elsewhere_fences_a_stale_firing(pg_migrated: str) -> None:
    a, b = await court(pg_migrated), await court(pg_migrated)
    a.node_id, b.node_id = "node-a", "node-b"
    try:
        sid = (await a.create_session(JUDGE)).entries[0].session_id
        setter = await a.store.execute(
            sid, _set_clock(clock() + 60_000), now=clock(), node="node-a"
        )
        assert setter.timer_owner == "node-a"
        await a.store.execute(sid, _set_clock(clock() + 60_000), now=clock(), node="node-a")
        # node-b takes the timer over (a lapsed lease, say): owner and fence change, head not.
        claimed = await b.store.claim_timers("node-b", clock(), 5000, mode="all")
        assert [s for s, _, _ in claimed] == [sid]
        fired = await a.store.execute(
            sid, _set_clock(None), now=clock(), node="node-a", fence=setter.timer_fence
        )
        assert fired.fenced and not fired.entries
        assert len(await a.store.entries(sid)) == 3
    finally:
        await a.store.close()
        await b.store.close()


async def test_a_renewed_lease_is_not_shortened(pg_migrated: str) -> None:
    ct = await court(pg_migrated)
    ct.node_id = "node-a"
    try:
        sid = (await ct.create_session(JUDGE)).entries[0].session_id
        now = clock()
        await ct.store.execute(sid, _set_clock(now + 60_000), now=now, node="node-a", lease_ms=5000)
        assert await ct.store.renew_leases("node-a", now, 600_000) == 1
        fast = backend(ct).fast_batches
        await ct.store.execute(sid, _set_clock(now + 60_000), now=now, node="node-a", lease_ms=5000)
        assert backend(ct).fast_batches == fast + 1
        assert await _lease(ct, sid) == now + 600_000
    finally:
        await ct.store.close()


def _set_clock(next_action: int | None) -> Any:
    """A decision that logs a NOTE and sets (or clears) the session's next timer action."""

    def decide(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        state = orjson.loads(text)
        return Decision(
            events=[_Note()], state=state, status=state["status"], next_action_ms=next_action
        )

    return decide


def _notes(n: int) -> Any:
    """A decision that logs ``n`` NOTEs at once."""

    def decide(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        state = orjson.loads(text)
        events = [_Numbered(i) for i in range(n)]
        return Decision(events=events, state=state, status=state["status"], next_action_ms=None)

    return decide


class _Numbered:
    event_type = "NOTE"
    actor_id = "1"

    def __init__(self, n: int) -> None:
        self.details = {"n": n}


class _Note:
    event_type = "NOTE"
    details: dict[str, Any] = {}
    actor_id = "1"


async def _lease(ct: Any, sid: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(
        ct.store.write_engine.url.render_as_string(False).replace("+asyncpg", "")
    )
    try:
        return int(
            await conn.fetchval(
                "SELECT timer_lease_until FROM courtroom_sessions WHERE id = $1", sid
            )
        )
    finally:
        await conn.close()
