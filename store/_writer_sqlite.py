"""The SQLite batch backend: stdlib ``sqlite3`` on one dedicated writer thread.

A batch is one hop to the thread: ``BEGIN IMMEDIATE`` (the database's write
lock, so other processes and the SQLAlchemy engine serialise with it), the
whole ``store/_batch.py`` script, ``COMMIT``. WAL lets readers on their own
connections go on reading the last commit meanwhile.

Durability: ``synchronous=NORMAL`` in WAL mode, so a commit survives the
process being killed; a power cut may lose the last commits before the next
checkpoint. ``COURTROOM_SQLITE_SYNCHRONOUS=FULL`` fsyncs every batch as well.

Checkpoints (copying the WAL back into the database file) are taken off the
commit path: the writer's connection never checkpoints by itself; every
``CHECKPOINT_ROWS`` written rows (a commit counting for a few) a second thread runs a passive checkpoint on
its own connection (sqlite3 releases the GIL while SQLite works), so a commit
never waits for one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from protocol.errors import Conflict, StoreError, Unavailable
from store._batch import Dialect, Script, script
from store._plan import Job, Memos

_DIALECT = Dialect()
log = logging.getLogger("courtroom.writer")
# About SQLite's own autocheckpoint (1,000 WAL pages): a commit writes a few
# pages of its own (head row, index roots) besides its rows.
CHECKPOINT_ROWS = 1000
PAGES_PER_COMMIT = 4


class SqliteBackend:
    def __init__(self, path: str, *, synchronous: str = "NORMAL", trees: bool = True) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._path = path
        self._sync = synchronous.upper()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="courtroom-writer")
        self._conn: sqlite3.Connection | None = None
        self._checkpoints = Checkpointer(path)
        self._since_checkpoint = 0
        self.memos = Memos()  # used on the writer thread only
        self._trees = trees  # grow the Merkle trees in the batch (store/_tree.py)

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, jobs)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._disconnect)
        self._pool.shutdown(wait=True)
        self._checkpoints.close()

    # --- on the writer thread ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._sync}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, jobs: Sequence[Job]) -> list[Any]:
        try:
            conn = self._connect()
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = _drive(conn, script(jobs, _DIALECT, None, self.memos, self._trees))
                conn.execute("COMMIT")
                self._since_checkpoint += conn.total_changes - before + PAGES_PER_COMMIT
                if self._since_checkpoint >= CHECKPOINT_ROWS:
                    self._since_checkpoint = 0
                    self._checkpoints.request()
                return outcomes
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"conflicting write: {exc}") from exc
        except sqlite3.OperationalError as exc:
            self._disconnect()
            raise Unavailable(f"database unavailable: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc


def _drive(conn: sqlite3.Connection, steps: Script) -> list[Any]:
    result: Any = None
    try:
        while True:
            step = steps.send(result)
            if step.kind == "fetch":
                result = conn.execute(step.sql, step.args).fetchall()
            else:
                conn.executemany(step.sql, step.args)
                result = None
    except StopIteration as done:
        outcomes: list[Any] = done.value
        return outcomes


class Checkpointer:
    """Passive WAL checkpoints on a thread and connection of their own, one at a time."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="courtroom-checkpoint")
        self._running: Future[None] | None = None
        self._conn: sqlite3.Connection | None = None
        self.done = 0  # checkpoints run, for the tests

    def request(self) -> None:
        """Start a checkpoint unless one is running (called on the writer thread)."""
        if self._running is None or self._running.done():
            self._running = self._pool.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            # PASSIVE: copy what no reader still needs; never blocks the writer.
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.done += 1
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed: %s", exc)

    def close(self) -> None:
        def finish() -> None:
            self._checkpoint()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._pool.submit(finish).result()
        self._pool.shutdown(wait=True)
