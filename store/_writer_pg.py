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
from store._tree import TreeCache, TreeState, at_head, grow

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
        self.heads = HeadCache()
        self.memos = Memos()
        # The Merkle trees grown in the batch (store/_tree.py), remembered like the heads.
        self.trees: TreeCache | None = TreeCache() if trees else None
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
        trees = self._remembered_trees(jobs)
        fast = None if trees is None else fast_plan(jobs, self.heads, self.memos)
        if fast is None or trees is None:
            return await self._locked(jobs)
        p, rows = fast
        growth = None if self.trees is None else grow(p.outcomes, trees)
        step = _DIALECT.write_if_unchanged(p.entries, p.heads, growth)
        try:
            async with self._mapped():
                conn = await self._connection()
                written = {str(r[0]) for r in await conn.fetch(step.sql, *step.args)}
        except _Retry:  # the statement wrote nothing; the locking path orders the locks
            self._forget(list(rows))
            return await self._locked(jobs)
        except BaseException:
            self._forget(list(rows))
            raise
        self.fast_batches += 1
        self.heads.put({sid: row for sid, row in rows.items() if sid in written})
        if self.trees is not None and growth is not None:
            self.trees.put({sid: t for sid, t in growth.trees.items() if sid in written})
        stale = set(rows) - written
        if not stale:
            return p.outcomes
        # Changed behind this node's back: those sessions' jobs again, under their locks.
        self._forget(stale)
        again = [j for j in jobs if isinstance(j, Command) and j.session_id in stale]
        redone = iter(await self._locked(again))
        return [
            next(redone) if isinstance(j, Command) and j.session_id in stale else outcome
            for j, outcome in zip(jobs, p.outcomes, strict=True)
        ]

    def _remembered_trees(self, jobs: Sequence[Job]) -> dict[str, TreeState] | None:
        """Each command's session's tree, if remembered at its remembered head; else None."""
        if self.trees is None:
            return {}
        ids = {j.session_id for j in jobs if isinstance(j, Command)}
        heads, stored = {}, {}
        for sid in ids:
            row, tree = self.heads.get(sid), self.trees.get(sid)
            if row is None or tree is None:
                return None
            heads[sid], stored[sid] = row.head_seq, tree
        trees = at_head(ids, heads, stored)
        return trees if len(trees) == len(ids) else None

    def _forget(self, session_ids: Sequence[str] | set[str]) -> None:
        self.heads.forget(session_ids)
        if self.trees is not None:
            self.trees.forget(session_ids)

    async def _locked(self, jobs: Sequence[Job]) -> list[Any]:
        for attempt in range(_RETRIES):
            seen: dict[str, Row] = {}
            grown: dict[str, TreeState] | None = None if self.trees is None else {}
            try:
                async with self._mapped():
                    conn = await self._connection()
                    async with conn.transaction():
                        steps = script(jobs, _DIALECT, seen, self.memos, grown)
                        outcomes = await _drive(conn, steps)
                self.heads.put(seen)
                if self.trees is not None and grown is not None:
                    # A session whose tree was not grown (left behind) is not remembered.
                    self.trees.forget([sid for sid in seen if sid not in grown])
                    self.trees.put(grown)
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
            if self.trees is not None:
                self.trees.clear()
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
