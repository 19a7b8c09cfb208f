"""The SQLite batch backend: stdlib ``sqlite3``, one connection, a batch in one go.

A batch is ``BEGIN IMMEDIATE`` (the database's write lock, so other
processes and the SQLAlchemy engine serialise with it), the whole
``store/_batch.py`` script, ``COMMIT``. WAL lets readers on their own
connections go on reading the last commit meanwhile.

Where it runs: a batch of up to ``INLINE_JOBS`` jobs on the event loop
itself, a larger one on a dedicated writer thread. The callers of a batch
all wait for its commit, so the loop had nothing to do while the thread
wrote: a hop only added two thread switches and, on two cores, a handover
of the GIL and the caches between cores (64 sessions at once: 6–15 % more
appends on the loop, in alternated rounds; a lone command 0.1 ms, where the
switches cost more than the work). A batch on the loop holds it for ~45 µs
a job, so ~6 ms at most, about as long as the thread's Python could hold
the GIL against the loop; on the thread, SQLite's own work (which releases
the GIL) lets a large batch overlap with the loop serving sockets.

An inline batch takes the write lock only if it is free at once (its
``BEGIN IMMEDIATE`` alone runs with no busy timeout); if another connection
holds it, the batch goes to the thread, which waits for it as every batch
there does. With ``synchronous=FULL`` (an fsync a commit) every batch goes
to the thread. The connection is the same either way, used by one batch at
a time (the writer hands over the next batch only when this one is done).

Durability: ``synchronous=NORMAL`` in WAL mode, so a commit survives the
process being killed; a power cut may lose the last commits before the next
checkpoint. ``COURTROOM_SQLITE_SYNCHRONOUS=FULL`` fsyncs every batch as well.

The session rows a batch reads are remembered as it left them, and the next
batch takes them from memory instead of reading them again (64 sessions: ~7 %
of a command's instructions): ``PRAGMA data_version``, read once the batch holds the
write lock, changes only when another connection has committed (the record
keeper, a migration, another process), and then everything remembered is
dropped. A batch that fails drops it too, as it may have changed rows it did
not commit.

Checkpoints (copying the WAL back into the database file) are taken off the
commit path: the writer's connection never checkpoints by itself; every
``CHECKPOINT_ROWS`` written rows (a commit counting for a few) a second thread
runs a passive checkpoint on its own connection (sqlite3 releases the GIL while
SQLite works), so a commit never waits for one.

The WAL must also *restart*: SQLite writes from its start again only at the
first commit after a checkpoint that copied every frame. A writer that never
pauses never gives it one, as frames keep arriving while the other thread
copies: under sustained load the WAL grew by ~100 MB a second, without end,
and appends slowed to half within 15 s (the WAL index grows with it). So when a
checkpoint leaves more than ``RESTART_FRAMES`` frames behind it, the writer
copies the few frames committed since, on its own connection and thread,
between two batches (``SqliteBackend.run``): then every frame is copied, and the
next batch restarts the WAL. ``journal_size_limit`` gives the file back after a
burst.
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
from store._lru import Remembered
from store._plan import Job, Memos, Row

_DIALECT = Dialect()
# sqlite3 adapts every parameter that is not exactly an int, float, str or
# bytearray: for ``bytes`` (the tree's edge, once a command) it looks for an
# ``__adapt__`` the slow way, raising and clearing an AttributeError (~1,500
# instructions a parameter). An identity adapter (``bytes(b)`` is ``b``) makes
# that a dict hit; process-wide, and it changes no value anyone binds.
sqlite3.register_adapter(bytes, bytes)
log = logging.getLogger("courtroom.writer")
BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for a lock another connection holds
# About SQLite's own autocheckpoint (1,000 WAL pages): a commit writes a few
# pages of its own (head row, index roots) besides its rows.
CHECKPOINT_ROWS = 1000
PAGES_PER_COMMIT = 4
INLINE_JOBS = 128  # the largest batch run on the event loop (read at each batch)
RESTART_FRAMES = 16 * CHECKPOINT_ROWS  # a WAL this long after a checkpoint (~64 MB): restart it
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the WAL file keeps after a restart


class SqliteBackend:
    concurrency = 1  # one connection: one batch at a time

    def __init__(self, path: str, *, synchronous: str = "NORMAL", trees: bool = True) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._path = path
        self._sync = synchronous.upper()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="courtroom-writer")
        self._conn: sqlite3.Connection | None = None
        self._checkpoints = Checkpointer(path)
        self._since_checkpoint = 0
        self.memos = Memos()  # used by one batch at a time
        # The session rows as this connection's last commits left them, valid while
        # ``PRAGMA data_version`` stays ``_version`` (no other connection committed).
        self.rows: Remembered[Row] = Remembered()
        self._version: int | None = None
        # Batches on the event loop: only when a commit does not fsync.
        self._inline = self._sync in ("OFF", "NORMAL")
        self._trees = trees  # grow the Merkle trees in the batch (store/_tree.py)
        self.wal_restarts = 0  # checkpoints finished by the writer, for the tests

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        if self._checkpoints.overdue:
            await self._restart_wal()
        if len(jobs) <= INLINE_JOBS and self._inline and self._conn is not None:
            try:
                return self._run(jobs, wait=False)
            except _Busy:
                pass  # the write lock is taken: wait for it on the thread
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, jobs)

    async def _restart_wal(self) -> None:
        """Copy the frames the last checkpoint left, so that the next batch restarts the WAL."""
        self._checkpoints.overdue = False
        await asyncio.get_running_loop().run_in_executor(self._pool, self._finish_checkpoint)

    def _finish_checkpoint(self) -> None:
        try:
            # PASSIVE is enough: this process's writer is the one writing, and it waits.
            self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.wal_restarts += 1
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint before a restart failed: %s", exc)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._disconnect)
        self._pool.shutdown(wait=True)
        self._checkpoints.close()

    # --- on the writer thread ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,  # small batches run on the event loop's thread
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._sync}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._conn = conn
            # data_version counts per connection: a new one's says nothing of the old one's rows.
            self.rows.clear()
            self._version = None
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, jobs: Sequence[Job], wait: bool = True) -> list[Any]:
        try:
            conn = self._connect()
            before = conn.total_changes
            _begin(conn, wait)
            seen: dict[str, Row] = {}
            try:
                (version,) = conn.execute("PRAGMA data_version").fetchone()
                if version != self._version:  # another connection committed
                    self.rows.clear()
                    self._version = version
                steps = script(jobs, _DIALECT, seen, self.memos, self._trees, self.rows)
                outcomes = _drive(conn, steps)
                conn.execute("COMMIT")
                for row in seen.values():  # as the next batch must find them
                    row.dirty = row.moved = False
                self.rows.put(seen)
                self._since_checkpoint += conn.total_changes - before + PAGES_PER_COMMIT
                if self._since_checkpoint >= CHECKPOINT_ROWS:
                    self._since_checkpoint = 0
                    self._checkpoints.request()
                return outcomes
            except BaseException:
                self.rows.clear()  # the batch changed rows it did not commit
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


class _Busy(Exception):
    """The write lock was taken and the caller would not wait for it."""


def _begin(conn: sqlite3.Connection, wait: bool) -> None:
    """``BEGIN IMMEDIATE``; unless ``wait``, raise ``_Busy`` at once if the write lock is taken."""
    if wait:
        conn.execute("BEGIN IMMEDIATE")  # SQLite's busy handler waits up to BUSY_TIMEOUT_MS
        return
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            raise _Busy from None
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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
        # The last one left more than RESTART_FRAMES frames: the writer is to finish it.
        self.overdue = False

    def request(self) -> None:
        """Start a checkpoint unless one is running (called on the writer thread)."""
        if self._running is None or self._running.done():
            self._running = self._pool.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            # PASSIVE: copy what no reader still needs; never blocks the writer.
            _, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.done += 1
            self.overdue = frames >= RESTART_FRAMES
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
