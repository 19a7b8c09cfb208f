"""The log append and the session reads: the only place sessions are written.

Writes go through the database's batch writer (``store/_writer.py``): each
command is a job that runs under its session's lock (``SELECT ... FOR
UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite) inside a transaction
shared with whatever else was waiting, reads the chain head and the state,
asks the caller's pure ``decide`` function what happens, and appends the
entries with consecutive sequence numbers. Sequence numbers are therefore
gap-free under any concurrency, on one node or many, and a command returns
only once its batch has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from protocol import VerifyResult
from protocol.errors import NotFound
from store._db_errors import mapped as _mapped
from store._engine import create_engine, is_sqlite
from store._entries import LogEntry
from store._plan import (
    Command,
    Committed,
    Connect,
    Create,
    Decide,
    Decision,
    Disconnect,
    Head,
    PendingEvent,
    TxInfo,
)
from store._schema import (
    courtroom_sessions as S,
    session_log_entries as L,
)
from store._session_reads import ProjectionReads
from store._time import ms_to_iso, now_ms
from store._verify import PARALLEL_MIN, verify_pg, verify_sqlite
from store._writer import Backend, Writer, silence

__all__ = [
    "Committed",
    "Decide",
    "Decision",
    "Head",
    "PendingEvent",
    "SessionStore",
    "TxInfo",
    "ms_to_iso",
    "now_ms",
]


def _backend(url: str, sqlite: bool, sqlite_synchronous: str, trees: bool) -> Backend:
    u = make_url(url)
    if sqlite:
        from store._writer_sqlite import SqliteBackend

        return SqliteBackend(u.database or ":memory:", synchronous=sqlite_synchronous, trees=trees)
    from store._writer_pg import PgBackend

    return PgBackend(_dsn(url), trees=trees)


def _dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL, for asyncpg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class SessionStore(ProjectionReads):
    """Sessions and their logs over one database.

    Args:
        url: a SQLAlchemy URL; ``sqlite:///...`` or ``postgresql://...`` are
            normalised to their async drivers.
        max_batch: the most jobs one write transaction takes.
        sqlite_synchronous: SQLite's ``synchronous`` pragma for the writer
            (``NORMAL``: survives a killed process; ``FULL``: a power cut too).
        trees: grow each log's Merkle tree in the writer's transactions
            (``store/_tree.py``); off only to measure the write path without it.
    """

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = 1024,
        sqlite_synchronous: str = "NORMAL",
        trees: bool = True,
    ) -> None:
        self.write_engine: AsyncEngine = create_engine(url)
        # SQLite: a second engine without BEGIN IMMEDIATE, so readers never wait
        # for the write lock (WAL lets them read the last commit).
        self.read_engine: AsyncEngine = (
            create_engine(url, _readonly=True)
            if is_sqlite(self.write_engine)
            else self.write_engine
        )
        self._sqlite = is_sqlite(self.write_engine)
        self._url = self.write_engine.url.render_as_string(hide_password=False)
        self._max_batch = max_batch
        self._sqlite_sync = sqlite_synchronous
        self._trees = trees
        self._writer: Writer | None = None

    @property
    def writer(self) -> Writer:
        """The batch writer, started on first use (it needs the running loop)."""
        if self._writer is None:
            backend = _backend(self._url, self._sqlite, self._sqlite_sync, self._trees)
            self._writer = Writer(backend, max_batch=self._max_batch)
        return self._writer

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
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
        columns = {
            "assignment_id": assignment_id,
            "title": title,
            "metadata": None if metadata is None else orjson.dumps(metadata).decode(),
            "created_by": created_by,
        }
        committed: Committed = await self.writer.submit(
            Create(session_id, first, state, now, columns)
        )
        return committed

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

        ``decide(state_text, memo, head, now, info)`` must be pure (it may run twice if
        its batch is retried): it raises a CourtroomError to refuse, and then
        nothing of it is written.

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
        job = Command(session_id, decide, now, node, fence, live_user, lease_ms)
        committed: Committed = await self.writer.submit(job)
        return committed

    # --- presence rows (through the writer: a crowd arriving is a few batches) ---

    def add_connection(self, row: dict[str, Any], *, wait: bool = True) -> Any:
        """Register a live connection; awaitable, or fire-and-forget with ``wait=False``
        (then the row rides with the writer's next batch: ``Writer.submit_nowait``)."""
        fut = self.writer.submit_nowait(Connect(row), defer=not wait)
        if not wait:
            silence(fut)
        return fut

    async def remove_connection(self, connection_id: str) -> bool:
        """Delete one connection's row; False if another node already cleaned it up."""
        removed: bool = await self.writer.submit(Disconnect(connection_id))
        return removed

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

    async def verify(
        self, session_id: str, *, workers: int | None = None, parallel_min: int = PARALLEL_MIN
    ) -> VerifyResult:
        """Recompute the chain from the stored rows (``store/_verify.py``).

        ``workers``: processes for a log of ``parallel_min`` entries or more
        (default ``COURTROOM_VERIFY_WORKERS`` or the CPU count); the result is
        the same with any number.
        """
        await self.row(session_id)  # 404 for an unknown session
        u = make_url(self._url)
        if self._sqlite:
            return await asyncio.to_thread(
                verify_sqlite,
                u.database or "",
                session_id,
                workers=workers,
                parallel_min=parallel_min,
            )
        return await verify_pg(
            _dsn(self._url), session_id, workers=workers, parallel_min=parallel_min
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
