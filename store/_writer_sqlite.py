"""The SQLite batch backend: stdlib ``sqlite3`` on one dedicated writer thread.

A batch is one hop to the thread: ``BEGIN IMMEDIATE`` (the database's write
lock, so other processes and the SQLAlchemy engine serialise with it), the
whole ``store/_batch.py`` script, ``COMMIT``. WAL lets readers on their own
connections go on reading the last commit meanwhile.

Durability: ``synchronous=NORMAL`` in WAL mode, so a commit survives the
process being killed; a power cut may lose the last commits before the next
checkpoint. ``COURTROOM_SQLITE_SYNCHRONOUS=FULL`` fsyncs every batch as well.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from protocol.errors import Conflict, StoreError, Unavailable
from store._batch import Dialect, Script, script
from store._plan import Job

_DIALECT = Dialect()


class SqliteBackend:
    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._path = path
        self._sync = synchronous.upper()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="courtroom-writer")
        self._conn: sqlite3.Connection | None = None

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, jobs)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._disconnect)
        self._pool.shutdown(wait=True)

    # --- on the writer thread ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._sync}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, jobs: Sequence[Job]) -> list[Any]:
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = _drive(conn, script(jobs, _DIALECT))
                conn.execute("COMMIT")
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
