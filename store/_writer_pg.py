"""The PostgreSQL batch backend: asyncpg, one transaction per batch, two batches at once.

No SQLAlchemy on this path: the statements of ``store/_batch.py`` are fixed
texts, so asyncpg's statement cache prepares each once per connection. A batch
is ``BEGIN``, ``SELECT … FOR UPDATE`` of its sessions in id order, one
``INSERT … SELECT FROM unnest(…)`` of its entries, the projection rows (one
``executemany`` per shape), one ``UPDATE … FROM unnest(…)`` of the heads, and
``COMMIT``: a handful of round trips whatever the batch's size.

A batch of commands on sessions whose rows this backend committed last, that
writes only entries and heads, skips the locking read and the explicit
transaction: one conditional, autocommitted statement (``store/_heads.py``).
A session whose row changed meanwhile writes nothing and its jobs take the
locking path: then the batch is two transactions, and if the second fails
(the database lost), only its jobs get ``Unavailable``; the first's committed.

Two batches over disjoint sessions may be written at once, each on a
connection of its own (``concurrency``; the writer forms them, ``store/_writer.py``):
every caller of a batch waits for its commit, so with one batch the event loop
idled while the database wrote it, a third of the time with 64 sessions writing.

A deadlock with another writer (a timer claim locking rows in another order)
or a serialization failure rolls the batch back and runs it again. A lost
connection fails the batch with ``Unavailable`` and is dropped; the next batch
connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from protocol.errors import Conflict, StoreError, Unavailable
from store._batch import PgDialect, Script, script
from store._heads import HeadCache, fast_plan
from store._plan import Command, Job, Memos, Row

_DIALECT = PgDialect()
_RETRIES = 5
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
    TimeoutError,
)


class _Retry(Exception):
    """A deadlock or serialization failure: the batch wrote nothing and may run again."""


class PgBackend:
    concurrency = 2  # batches written at once, over disjoint sessions, a connection each

    def __init__(self, dsn: str, *, command_timeout: float = 30.0, trees: bool = True) -> None:
        self._dsn = dsn
        self._timeout = command_timeout
        self._idle: list[asyncpg.Connection] = []  # connections no batch is using
        self.heads = HeadCache()  # each with its tree's size and edge (store/_tree.py)
        self.memos = Memos()
        self._trees = trees  # grow the Merkle trees in the batch
        self.fast_batches = 0  # for the tests and the benchmarks

    async def _acquire(self) -> asyncpg.Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
        return await asyncpg.connect(self._dsn, command_timeout=self._timeout, timeout=5)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            if conn.is_closed():
                continue
            try:
                await asyncio.wait_for(conn.close(), 5)
            except _LOST:
                conn.terminate()

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        conn: asyncpg.Connection | None = None
        try:
            async with self._mapped():
                conn = await self._acquire()
            return await self._run(conn, jobs)
        except Unavailable:
            if conn is not None:  # lost: never handed to another batch
                conn.terminate()
                conn = None
            raise
        finally:
            if conn is not None and not conn.is_closed():
                self._idle.append(conn)

    async def _run(self, conn: asyncpg.Connection, jobs: Sequence[Job]) -> list[Any]:
        fast = fast_plan(jobs, self.heads, self.memos, self._trees)
        if fast is None:
            return await self._locked(conn, jobs)
        p, rows = fast
        step = _DIALECT.write_if_unchanged(p.entries, p.heads, p.nodes)
        try:
            async with self._mapped():
                written = {str(r[0]) for r in await conn.fetch(step.sql, *step.args)}
        except _Retry:  # the statement wrote nothing; the locking path orders the locks
            self.heads.forget(list(rows))
            return await self._locked(conn, jobs)
        except BaseException:
            self.heads.forget(list(rows))
            raise
        self.fast_batches += 1
        self.heads.put({sid: row for sid, row in rows.items() if sid in written})
        stale = set(rows) - written
        if not stale:
            return p.outcomes
        # Changed behind this node's back: those sessions' jobs again, under their locks.
        self.heads.forget(stale)
        again = [j for j in jobs if isinstance(j, Command) and j.session_id in stale]
        try:
            redone = iter(await self._locked(conn, again))
        except Unavailable as exc:
            # The statement above committed the other sessions' jobs: they succeeded, and
            # only the jobs run again fail. The connection is dropped, as ``run`` would.
            conn.terminate()
            redone = iter([exc] * len(again))
        return [
            next(redone) if isinstance(j, Command) and j.session_id in stale else outcome
            for j, outcome in zip(jobs, p.outcomes, strict=True)
        ]

    async def _locked(self, conn: asyncpg.Connection, jobs: Sequence[Job]) -> list[Any]:
        for attempt in range(_RETRIES):
            seen: dict[str, Row] = {}
            try:
                async with self._mapped():
                    async with conn.transaction():
                        steps = script(jobs, _DIALECT, seen, self.memos, self._trees)
                        outcomes = await _drive(conn, steps)
                self.heads.put(seen)
                return outcomes
            except _Retry:
                if attempt == _RETRIES - 1:
                    raise Unavailable("the database kept aborting the batch") from None
                await asyncio.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _mapped(self) -> AsyncIterator[None]:
        """asyncpg's errors as the store's; ``_Retry`` for an abort worth running again."""
        try:
            yield
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
            raise _Retry from exc
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"conflicting write: {exc}") from exc
        except _LOST as exc:
            self.heads.clear()  # what was remembered may have been written or not
            raise Unavailable(f"database unavailable: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database error: {exc}") from exc


async def _drive(conn: asyncpg.Connection, steps: Script) -> list[Any]:
    result: Any = None
    try:
        while True:
            step = steps.send(result)
            if step.kind == "fetch":
                result = await conn.fetch(step.sql, *step.args)
            else:
                await conn.executemany(step.sql, step.args)
                result = None
    except StopIteration as done:
        outcomes: list[Any] = done.value
        return outcomes
