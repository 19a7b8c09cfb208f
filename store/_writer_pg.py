"""The PostgreSQL batch backend: one asyncpg connection, one transaction per batch.

No SQLAlchemy on this path: the statements of ``store/_batch.py`` are fixed
texts, so asyncpg's statement cache prepares each once per connection. A batch
is ``BEGIN``, ``SELECT … FOR UPDATE`` of its sessions in id order, one
``INSERT … SELECT FROM unnest(…)`` of its entries, the projection rows (one
``executemany`` per shape), one ``UPDATE … FROM unnest(…)`` of the heads, and
``COMMIT``: a handful of round trips whatever the batch's size.

A deadlock with another writer (a timer claim locking rows in another order)
or a serialization failure rolls the batch back and runs it again. A lost
connection fails the batch with ``Unavailable``; the next batch reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from protocol.errors import Conflict, StoreError, Unavailable
from store._batch import PgDialect, Script, script
from store._plan import Job

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


class PgBackend:
    def __init__(self, dsn: str, *, command_timeout: float = 30.0) -> None:
        self._dsn = dsn
        self._timeout = command_timeout
        self._conn: asyncpg.Connection | None = None

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
        for attempt in range(_RETRIES):
            try:
                conn = await self._connection()
                async with conn.transaction():
                    return await _drive(conn, script(jobs, _DIALECT))
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == _RETRIES - 1:
                    raise Unavailable("the database kept aborting the batch") from None
                await asyncio.sleep(0.001 * 2**attempt)
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise Conflict(f"conflicting write: {exc}") from exc
            except _LOST as exc:
                await self._drop()
                raise Unavailable(f"database unavailable: {exc}") from exc
            except asyncpg.PostgresError as exc:
                raise StoreError(f"database error: {exc}") from exc
        raise AssertionError("unreachable")

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
