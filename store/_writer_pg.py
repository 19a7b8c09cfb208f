"""The PostgreSQL batch backend: one asyncpg connection, one transaction per batch.

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
locking path.

A deadlock with another writer (a timer claim locking rows in another order)
or a serialization failure rolls the batch back and runs it again. A lost
connection fails the batch with ``Unavailable``; the next batch reconnects.
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
    def __init__(self, dsn: str, *, command_timeout: float = 30.0, trees: bool = True) -> None:
        self._dsn = dsn
        self._timeout = command_timeout
        self._conn: asyncpg.Connection | None = None
        self.heads = HeadCache()  # each with its tree's size and edge (store/_tree.py)
        self.memos = Memos()
        self._trees = trees  # grow the Merkle trees in the batch
        self.fast_batches = 0  # for the tests and the benchmarks

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, command_timeout=self._timeout, timeout=5)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            try:
                await asyncio.wait_for(self._conn.close(), 5)
            except _LOST:
                self._conn.terminate()
        self._conn = None

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        fast = fast_plan(jobs, self.heads, self.memos, self._trees)
        if fast is None:
            return await self._locked(jobs)
        p, rows = fast
        step = _DIALECT.write_if_unchanged(p.entries, p.heads, p.nodes)
        try:
            async with self._mapped():
                conn = await self._connection()
                written = {str(r[0]) for r in await conn.fetch(step.sql, *step.args)}
        except _Retry:  # the statement wrote nothing; the locking path orders the locks
            self.heads.forget(list(rows))
            return await self._locked(jobs)
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
        redone = iter(await self._locked(again))
        return [
            next(redone) if isinstance(j, Command) and j.session_id in stale else outcome
            for j, outcome in zip(jobs, p.outcomes, strict=True)
        ]

    async def _locked(self, jobs: Sequence[Job]) -> list[Any]:
        for attempt in range(_RETRIES):
            seen: dict[str, Row] = {}
            try:
                async with self._mapped():
                    conn = await self._connection()
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
            self.heads.clear()
            await self._drop()
            raise Unavailable(f"database unavailable: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def _drop(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None


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
