"""The log append and the session reads: the only place sessions are written.

Every write is one transaction that holds the session's lock (``SELECT ...
FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), reads the chain
head and the state, asks the caller's pure ``decide`` function what happens,
appends the entries with consecutive sequence numbers, updates the projection
tables and the session row, and commits. Sequence numbers are therefore gap-free
under any concurrency, on one node or many.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from protocol import (
    GENESIS_HASH,
    ChainVerifier,
    VerifyResult,
    canonical_details,
    entry_hash_canonical,
    format_timestamp,
)
from protocol.errors import Conflict, NotFound, StoreError, Unavailable
from store._engine import create_engine, is_sqlite
from store._entries import LogEntry
from store._projections import HANDLERS
from store._schema import (
    classroom_rounds,
    classroom_turn_audit,
    classroom_turns,
    courtroom_sessions as S,
    live_connections as LC,
    session_log_entries as L,
    session_observations,
    session_participations,
)


class PendingEvent(Protocol):
    """What a decision appends: the rules' ``NewEvent`` has this shape."""

    @property
    def event_type(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def actor_id(self) -> str | None: ...


@dataclass(slots=True)
class Decision:
    """The outcome of a command, computed under the lock by the caller's pure code."""

    events: Sequence[PendingEvent]
    state: dict[str, Any]
    status: str
    next_action_ms: int | None
    session_columns: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    # Columns that depend on the new chain head (the integrity hash on completion).
    after_chain: Callable[[Head], dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Head:
    sequence_number: int
    hash: str


@dataclass(frozen=True, slots=True)
class TxInfo:
    """What the transaction read besides the state, for the caller's ``decide``."""

    live_connections: int | None  # of ``live_user`` across all nodes, when asked
    timer_owner: str | None


@dataclass(frozen=True, slots=True)
class Committed:
    entries: list[LogEntry]
    state: dict[str, Any]
    head: Head
    result: Any
    timer_owner: str | None = None
    timer_fence: int = 0
    fenced: bool = False  # a timer presented a stale fencing token: nothing was done


Decide = Callable[[dict[str, Any], Head, int, TxInfo], Decision]


def now_ms() -> int:
    from time import time_ns

    return time_ns() // 1_000_000


def ms_to_iso(ms: int) -> str:
    return format_timestamp(datetime.fromtimestamp(ms / 1000, tz=UTC))


@asynccontextmanager
async def _mapped() -> AsyncIterator[None]:
    """Map driver failures once, at the boundary: down → Unavailable, else StoreError."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"conflicting write: {exc.orig}") from exc
    except (OperationalError, ConnectionError, OSError, TimeoutError) as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {exc}") from exc
        raise StoreError(f"database error: {exc}") from exc


class SessionStore:
    """Sessions and their logs over one database.

    Args:
        url: a SQLAlchemy URL; ``sqlite:///...`` or ``postgresql://...`` are
            normalised to their async drivers.
    """

    def __init__(self, url: str) -> None:
        self.write_engine: AsyncEngine = create_engine(url)
        # SQLite: a second engine without BEGIN IMMEDIATE, so readers never wait
        # for the write lock (WAL lets them read the last commit).
        self.read_engine: AsyncEngine = (
            create_engine(url, _readonly=True)
            if is_sqlite(self.write_engine)
            else self.write_engine
        )
        self._sqlite = is_sqlite(self.write_engine)

    async def close(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()

    async def ping(self) -> None:
        async with _mapped(), self.read_engine.connect() as c:
            await c.execute(select(1))

    # --- writes -----------------------------------------------------------

    async def create(
        self,
        session_id: str,
        first: PendingEvent,
        state: dict[str, Any],
        *,
        now: int,
        assignment_id: str | None,
        title: str,
        metadata: dict[str, Any] | None,
        created_by: str | None,
    ) -> Committed:
        ts = ms_to_iso(now)
        entry = _chain(session_id, 1, ts, first, GENESIS_HASH)
        async with _mapped(), self.write_engine.begin() as c:
            await c.execute(
                insert(S).values(
                    id=session_id,
                    assignment_id=assignment_id,
                    status=state["status"],
                    title=title,
                    metadata=None if metadata is None else orjson.dumps(metadata).decode(),
                    created_at=ts,
                    created_by=created_by,
                    head_seq=1,
                    head_hash=entry.hash,
                    state=orjson.dumps(state).decode(),
                    next_action_ms=None,
                )
            )
            await _insert_entries(c, [entry], ts)
        return Committed([entry], state, Head(1, entry.hash), None)

    async def execute(
        self,
        session_id: str,
        decide: Decide,
        *,
        now: int,
        node: str | None = None,
        fence: int | None = None,
        live_user: str | None = None,
        lease_ms: int = 5000,
    ) -> Committed:
        """Run ``decide`` under the session's lock and commit what it returns.

        ``decide(state, head, now, info)`` must be pure: it raises a
        CourtroomError to refuse (the transaction is then rolled back and
        nothing is written).

        Args:
            node: this node's id. When the decision leaves a deadline, this node
                becomes (or stays) the owner of the session's timer, with a lease
                of ``lease_ms`` and a new fencing token if ownership moved.
            fence: set when a timer fires: the token the node holds. If the
                session's timer is now owned by another node or another token,
                nothing happens and ``Committed.fenced`` is True.
            live_user: count this user's live participant connections (all
                nodes) inside the transaction, for ``info.live_connections``.
        """
        async with _mapped(), self.write_engine.begin() as c:
            q = select(
                S.c.head_seq,
                S.c.head_hash,
                S.c.state,
                S.c.timer_owner,
                S.c.timer_fence,
            ).where(S.c.id == session_id)
            if not self._sqlite:
                q = q.with_for_update()
            row = (await c.execute(q)).first()
            if row is None:
                raise NotFound("session not found")
            head = Head(row.head_seq, row.head_hash)
            if fence is not None and (row.timer_owner != node or row.timer_fence != fence):
                return Committed(
                    [], orjson.loads(row.state), head, None, row.timer_owner, row.timer_fence, True
                )
            live = None
            if live_user is not None:
                live = int(
                    await c.scalar(
                        select(func.count()).where(
                            LC.c.session_id == session_id,
                            LC.c.user_id == live_user,
                            LC.c.kind == "participant",
                        )
                    )
                    or 0
                )
            decision = decide(orjson.loads(row.state), head, now, TxInfo(live, row.timer_owner))
            if not decision.events:
                return Committed(
                    [], decision.state, head, decision.result, row.timer_owner, row.timer_fence
                )
            ts = ms_to_iso(now)
            entries: list[LogEntry] = []
            prev = head.hash
            for i, e in enumerate(decision.events, start=head.sequence_number + 1):
                entry = _chain(session_id, i, ts, e, prev)
                entries.append(entry)
                prev = entry.hash
            await _insert_entries(c, entries, ts)
            for entry, e in zip(entries, decision.events, strict=True):
                handler = HANDLERS.get(e.event_type)
                if handler is not None:
                    await handler(c, session_id, e.details, e.actor_id, ts, entry.sequence_number)
            for r in decision.rounds:
                await c.execute(
                    update(classroom_rounds)
                    .where(classroom_rounds.c.id == r["id"])
                    .values({k: v for k, v in r.items() if k != "id"})
                )
            new_head = Head(entries[-1].sequence_number, entries[-1].hash)
            sealed = decision.after_chain(new_head) if decision.after_chain else {}
            owner, fence_now = row.timer_owner, row.timer_fence
            timer: dict[str, Any] = {}
            if decision.next_action_ms is None:
                owner = None
                timer = {"timer_owner": None, "timer_lease_until": None}
            elif node is not None:
                # The node that last set a session's clock drives it.
                if owner != node:
                    owner, fence_now = node, fence_now + 1
                timer = {
                    "timer_owner": owner,
                    "timer_fence": fence_now,
                    "timer_lease_until": now + lease_ms,
                }
            await c.execute(
                update(S)
                .where(S.c.id == session_id)
                .values(
                    head_seq=new_head.sequence_number,
                    head_hash=new_head.hash,
                    state=orjson.dumps(decision.state).decode(),
                    status=decision.status,
                    next_action_ms=decision.next_action_ms,
                    **decision.session_columns,
                    **sealed,
                    **timer,
                )
            )
        return Committed(entries, decision.state, new_head, decision.result, owner, fence_now)

    # --- timer leases -------------------------------------------------------

    async def renew_leases(self, node: str, now: int, lease_ms: int) -> int:
        """Extend this node's leases on the sessions whose timers it drives."""
        async with _mapped(), self.write_engine.begin() as c:
            result = await c.execute(
                update(S)
                .where(S.c.timer_owner == node, S.c.next_action_ms.is_not(None))
                .values(timer_lease_until=now + lease_ms)
            )
            return int(result.rowcount or 0)

    async def claim_timers(
        self, node: str, now: int, lease_ms: int, *, mode: str = "orphans"
    ) -> list[tuple[str, int, int]]:
        """Take over timers, each with a new fencing token.

        Args:
            mode: ``"orphans"``: those nobody drives (no owner, or a lapsed
                lease). ``"restart"``: those too that name this node (a node
                restarted with the same ``COURTROOM_NODE_ID``). ``"all"``: every
                one, for a single-node deployment starting up, where any other
                owner is a previous life of this server.

        Returns:
            ``(session_id, next_action_ms, fence)`` for each claimed session.
        """
        cond: ColumnElement[bool] = S.c.next_action_ms.is_not(None)
        orphan = S.c.timer_owner.is_(None) | (S.c.timer_lease_until < now)
        if mode == "orphans":
            cond = cond & orphan & ((S.c.timer_owner != node) | S.c.timer_owner.is_(None))
        elif mode == "restart":
            cond = cond & (orphan | (S.c.timer_owner == node))
        async with _mapped(), self.write_engine.begin() as c:
            rows = await c.execute(
                update(S)
                .where(cond)
                .values(
                    timer_owner=node,
                    timer_fence=S.c.timer_fence + 1,
                    timer_lease_until=now + lease_ms,
                )
                .returning(S.c.id, S.c.next_action_ms, S.c.timer_fence)
            )
            return [(str(r.id), int(r.next_action_ms), int(r.timer_fence)) for r in rows]

    # --- reads ------------------------------------------------------------

    async def load(self, session_id: str) -> tuple[dict[str, Any], Head]:
        async with _mapped(), self.read_engine.connect() as c:
            row = (
                await c.execute(
                    select(S.c.state, S.c.head_seq, S.c.head_hash).where(S.c.id == session_id)
                )
            ).first()
        if row is None:
            raise NotFound("session not found")
        return orjson.loads(row.state), Head(row.head_seq, row.head_hash)

    async def row(self, session_id: str) -> dict[str, Any]:
        async with _mapped(), self.read_engine.connect() as c:
            row = (await c.execute(select(S).where(S.c.id == session_id))).mappings().first()
        if row is None:
            raise NotFound("session not found")
        return dict(row)

    async def find_by_assignment(self, assignment_id: str) -> str | None:
        async with _mapped(), self.read_engine.connect() as c:
            value = await c.scalar(select(S.c.id).where(S.c.assignment_id == assignment_id))
        return None if value is None else str(value)

    async def list_sessions(self, statuses: Sequence[str]) -> list[dict[str, Any]]:
        async with _mapped(), self.read_engine.connect() as c:
            rows = (
                await c.execute(
                    select(
                        S.c.id,
                        S.c.assignment_id,
                        S.c.status,
                        S.c.title,
                        S.c.started_at,
                        S.c.created_at,
                        S.c.head_seq,
                    )
                    .where(S.c.status.in_(statuses))
                    .order_by(S.c.created_at, S.c.id)
                )
            ).mappings()
            return [dict(r) for r in rows]

    async def heads(self, session_ids: Sequence[str]) -> dict[str, int]:
        """The head sequence number of each of these sessions."""
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(S.c.id, S.c.head_seq).where(S.c.id.in_(list(session_ids)))
            )
            return {str(r.id): int(r.head_seq) for r in rows}

    async def due_sessions(self) -> list[tuple[str, int]]:
        """Sessions whose clock needs the server at some moment (for the timer runner)."""
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(S.c.id, S.c.next_action_ms).where(S.c.next_action_ms.is_not(None))
            )
            return [(str(r.id), int(r.next_action_ms)) for r in rows]

    async def entries(
        self, session_id: str, from_sequence: int = 1, limit: int | None = None
    ) -> list[LogEntry]:
        """Entries with ``sequence_number >= from_sequence``, in order."""
        q = (
            select(L)
            .where(L.c.session_id == session_id, L.c.sequence_number >= from_sequence)
            .order_by(L.c.sequence_number)
        )
        if limit is not None:
            q = q.limit(limit)
        async with _mapped(), self.read_engine.connect() as c:
            return [_entry(r) for r in await c.execute(q)]

    async def stream_entries(
        self, session_id: str, from_sequence: int = 1, batch: int = 5000
    ) -> AsyncIterator[LogEntry]:
        """All entries from ``from_sequence`` in pages, for export and verify of long logs."""
        nxt = from_sequence
        while True:
            page = await self.entries(session_id, nxt, batch)
            for e in page:
                yield e
            if len(page) < batch:
                return
            nxt = page[-1].sequence_number + 1

    async def verify(self, session_id: str, *, page: int = 20_000) -> VerifyResult:
        """Recompute the chain from the stored rows.

        Reads only the hashed columns, as plain tuples, a page at a time on one
        connection: the read, not the hash, is what limits verification.
        """
        await self.row(session_id)  # 404 for an unknown session
        verifier = ChainVerifier(session_id)
        feed = verifier.feed_canonical
        cols = (
            L.c.session_id,
            L.c.sequence_number,
            L.c.timestamp,
            L.c.event_type,
            L.c.actor_id,
            L.c.details,
            L.c.previous_hash,
            L.c.hash_chain,
        )
        nxt = 1
        async with _mapped(), self.read_engine.connect() as c:
            while True:
                rows = (
                    await c.execute(
                        select(*cols)
                        .where(L.c.session_id == session_id, L.c.sequence_number >= nxt)
                        .order_by(L.c.sequence_number)
                        .limit(page)
                    )
                ).all()
                for r in rows:
                    if not feed(*r):
                        return verifier.result()
                if len(rows) < page:
                    return verifier.result()
                nxt = rows[-1][1] + 1

    async def participations(self, session_id: str) -> list[dict[str, Any]]:
        P = session_participations
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(P).where(P.c.session_id == session_id).order_by(P.c.joined_at, P.c.user_id)
            )
            return [dict(r) for r in rows.mappings()]

    async def observations(self, session_id: str) -> dict[str, int]:
        O = session_observations  # noqa: E741, N806
        async with _mapped(), self.read_engine.connect() as c:
            total = await c.scalar(select(func.count()).where(O.c.session_id == session_id))
            now = await c.scalar(
                select(func.count()).where(O.c.session_id == session_id, O.c.left_at.is_(None))
            )
        return {"total": int(total or 0), "current": int(now or 0)}

    # rounds and turns (projections)

    async def round_row(self, round_id: str) -> dict[str, Any]:
        async with _mapped(), self.read_engine.connect() as c:
            row = (
                (await c.execute(select(classroom_rounds).where(classroom_rounds.c.id == round_id)))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("Round not found")
            turns = await c.execute(
                select(classroom_turns)
                .where(classroom_turns.c.round_id == round_id)
                .order_by(classroom_turns.c.turn_order)
            )
            return {**dict(row), "turns": [dict(t) for t in turns.mappings()]}

    async def session_round_ids(self, session_id: str) -> list[str]:
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(classroom_rounds.c.id)
                .where(classroom_rounds.c.session_id == session_id)
                .order_by(classroom_rounds.c.round_index)
            )
            return [str(r.id) for r in rows]

    async def turn_row(self, turn_id: str) -> dict[str, Any]:
        T = classroom_turns  # noqa: N806
        async with _mapped(), self.read_engine.connect() as c:
            row = (
                (
                    await c.execute(
                        select(T, classroom_rounds.c.session_id)
                        .join(classroom_rounds, classroom_rounds.c.id == T.c.round_id)
                        .where(T.c.id == turn_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound("Turn not found")
        return dict(row)

    async def turn_audit(self, turn_id: str) -> list[dict[str, Any]]:
        A = classroom_turn_audit  # noqa: N806
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(A).where(A.c.turn_id == turn_id).order_by(A.c.sequence_number, A.c.id)
            )
            return [dict(r) for r in rows.mappings()]

    async def round_session(self, round_id: str) -> str:
        async with _mapped(), self.read_engine.connect() as c:
            sid = await c.scalar(
                select(classroom_rounds.c.session_id).where(classroom_rounds.c.id == round_id)
            )
        if sid is None:
            raise NotFound("Round not found")
        return str(sid)


def _chain(session_id: str, seq: int, ts: str, e: PendingEvent, prev: str) -> LogEntry:
    details_json = canonical_details(e.details)
    return LogEntry(
        session_id=session_id,
        sequence_number=seq,
        timestamp=ts,
        event_type=e.event_type,
        actor_id=e.actor_id,
        details_json=details_json,
        previous_hash=prev,
        hash=entry_hash_canonical(
            session_id, seq, ts, e.event_type, e.actor_id, details_json, prev
        ),
    )


async def _insert_entries(c: AsyncConnection, entries: list[LogEntry], ts: str) -> None:
    await c.execute(
        insert(L),
        [
            {
                "session_id": e.session_id,
                "sequence_number": e.sequence_number,
                "timestamp": e.timestamp,
                "event_type": e.event_type,
                "actor_id": e.actor_id,
                "details": e.details_json,
                "previous_hash": e.previous_hash,
                "hash_chain": e.hash,
                "created_at": ts,
            }
            for e in entries
        ],
    )


def _entry(r: Any) -> LogEntry:
    return LogEntry(
        session_id=r.session_id,
        sequence_number=r.sequence_number,
        timestamp=r.timestamp,
        event_type=r.event_type,
        actor_id=r.actor_id,
        details_json=r.details,
        previous_hash=r.previous_hash,
        hash=r.hash_chain,
    )
