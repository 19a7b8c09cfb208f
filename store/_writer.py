"""One writer per database: group commit across sessions.

Theory of operation. Every write of the log (commands, new sessions, presence
rows) is a job on one queue. A single task takes *everything that is waiting*
(up to ``max_batch``) and hands it to the backend, which runs the whole batch
as one transaction: lock the batch's session rows in id order, plan the jobs
in memory (``store/_plan.py``: each job sees what the jobs before it left; a
refused job fails alone and writes nothing), write the entries, projections
and heads, commit. Only then is each job's future resolved, in queue order.

A batch closes when the queue is empty or at the size cap, never on a timer:
a lone command is written at once, and under load the batch grows by itself
to whatever arrived during the previous commit (natural group commit).

A job that nobody waits for (an observer's presence row, queued with
``defer=True``) does not wake the writer: it goes with the next batch that
something else starts, or at the latest ``defer_s`` after it was queued. A
crowd arriving one handshake at a time otherwise made a transaction of one
or two rows each: 1,280 transactions a storm of 2,000 observers, each a
commit on the event loop that the next handshakes waited behind. The queue
stays one queue, so a deferred job is still written before anything queued
after it.

A backend may take more than one batch at a time (``Backend.concurrency``:
PostgreSQL, two connections). Then, while a batch is being written, the
next one forms from the jobs whose sessions are not in it: a session's jobs
are never in two batches at once, and a job waits behind any earlier job of
its session that waits, so each session's jobs still run in queue order and
its chain is never forked. A job that names no session (a ``Disconnect``) is
written only when no batch is, and the jobs queued after it wait for it.
Every caller of a batch waits for its commit, so with one batch at a time the
event loop idled while the database wrote; two overlap the two. For that,
with no batch running, ``2 * SPLIT_MIN`` waiting jobs or more are split in
half: the second half (less its sessions already in the first) is the next
batch, and the two then take turns.

Failures:

* a job that its rules refuse (or whose ``decide`` raises) fails alone inside
  the plan;
* a write the database refuses (a constraint, e.g. a duplicate id) fails the
  transaction: the batch is rolled back and each of its jobs is run again in
  a transaction of its own, so only the offending job fails;
* the database unreachable: every job of the batch gets ``Unavailable``, and
  the next batch reconnects. Mostly nothing of it was committed, but a
  connection lost while a commit was in flight leaves that transaction's fate
  unknown: it may have committed, whole. (On PostgreSQL's remembered-head path
  a batch may be two transactions, ``store/_writer_pg.py``; when the second
  fails, only its jobs get ``Unavailable``.) So a client that retries an
  ``unavailable`` command may find it already in the log
  (``tests/integration/test_database_down.py`` allows exactly that).

An acknowledged job is therefore always committed, and a job that was not
acknowledged was either committed whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from protocol.errors import CourtroomError, Unavailable
from store._plan import Command, Connect, Create, Job

log = logging.getLogger("courtroom.writer")
# With batches to spare (``Backend.concurrency``), this many jobs waiting or more are split
# in two batches written together; fewer go as one (a lone command is never delayed).
SPLIT_MIN = 8
# The longest a deferred job waits for a batch to ride with (``Writer.submit_nowait``).
DEFER_S = 0.02


class Backend(Protocol):
    # Batches this backend may run at once (over disjoint sessions).
    concurrency: int

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        """Run ``jobs`` as one transaction (or, redoing what changed meanwhile, two in turn);
        one outcome (value or exception) per job.

        Raises:
            Unavailable: the database could not be reached; each job was written
                whole or not at all (nothing, unless the connection was lost
                while a commit was in flight).
            CourtroomError: the transaction failed as a whole and was rolled back.
        """

    async def close(self) -> None: ...


class Writer:
    """The queue and the task that drains it into batches.

    Args:
        backend: the database's batch runner.
        max_batch: the most jobs one transaction takes.
        defer_s: the longest a deferred job waits for a batch to ride with.
    """

    def __init__(
        self, backend: Backend, *, max_batch: int = 1024, defer_s: float = DEFER_S
    ) -> None:
        self._backend = backend
        self._max = max_batch
        self._defer_s = defer_s
        self._deferred: asyncio.TimerHandle | None = None  # the wake-up a deferred job set
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self.concurrency = max(1, backend.concurrency)
        # The batches being written, each with its sessions (None: it holds a job naming none).
        self._running: dict[asyncio.Task[None], frozenset[str] | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # counters for the metrics and the benchmarks
        self.jobs = 0

    def submit_nowait(self, job: Job, *, defer: bool = False) -> asyncio.Future[Any]:
        """Queue ``job``; the future resolves after its batch commits.

        ``defer``: nobody is waiting for it, so it need not start a batch of
        its own; it is written with the next batch, within ``defer_s``.
        """
        if self._closing:
            raise Unavailable("the store is closing")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append((job, fut))
        if not defer:
            self._wake.set()
        elif self._deferred is None:
            self._deferred = loop.call_later(self._defer_s, self._wake_deferred)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")
        return fut

    async def submit(self, job: Job) -> Any:
        return await self.submit_nowait(job)

    def _wake_deferred(self) -> None:
        self._deferred = None
        self._wake.set()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._backend.close()

    async def _run(self) -> None:
        while True:
            if self._queue and len(self._running) < self.concurrency:
                batch = self._take()
                if batch:
                    if self.concurrency == 1:
                        await self._guarded(batch)  # no task a batch: the common case
                    else:
                        task = asyncio.create_task(self._guarded(batch))
                        self._running[task] = _sessions(batch)
                        task.add_done_callback(self._finished)
                    continue
            if self._closing and not self._queue and not self._running:
                return
            self._wake.clear()
            await self._wake.wait()

    def _take(self) -> list[tuple[Job, asyncio.Future[Any]]]:
        """The next batch: everything waiting, up to the cap, but for what must wait.

        With batches running, a job joins only if its session is in none of
        them and no earlier job of its session stays queued; a job naming no
        session stays, and so does everything after it.
        """
        if not self._running:
            n = min(len(self._queue), self._max)
            if self.concurrency > 1 and n >= 2 * SPLIT_MIN:
                n //= 2  # the other half forms the next batch at once, over other sessions
            batch, self._queue = self._queue[:n], self._queue[n:]
            return batch
        busy: set[str] = set()
        for keys in self._running.values():
            if keys is None:
                return []  # a batch that names no session runs alone
            busy |= keys
        taken: list[tuple[Job, asyncio.Future[Any]]] = []
        held: list[tuple[Job, asyncio.Future[Any]]] = []
        for i, item in enumerate(self._queue):
            sid = _session(item[0])
            if sid is None or len(taken) >= self._max:
                held += self._queue[i:]
                break
            if sid in busy:
                held.append(item)  # its session's later jobs wait behind it
            else:
                taken.append(item)
        self._queue = held
        return taken

    def _finished(self, task: asyncio.Task[None]) -> None:
        del self._running[task]
        self._wake.set()

    async def _guarded(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        try:
            await self._write(batch)
        except Exception:  # a bug here must not stop every future write
            log.exception("the writer failed on a batch of %d", len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(Unavailable("the writer failed"))

    async def _write(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        jobs = [job for job, _ in batch]
        try:
            outcomes = await self._backend.run(jobs)
        except Unavailable as exc:
            outcomes = [exc] * len(jobs)
        except CourtroomError as exc:
            if len(jobs) == 1:
                outcomes = [exc]
            else:
                # One write broke the transaction: find it by running each alone.
                log.info("batch of %d refused (%s); retrying its jobs one by one", len(jobs), exc)
                outcomes = [await self._alone(job) for job in jobs]
        self.batches += 1
        self.jobs += len(jobs)
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            if fut.done():  # the caller gave up waiting; the job stands
                continue
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

    async def _alone(self, job: Job) -> Any:
        try:
            (outcome,) = await self._backend.run([job])
            return outcome
        except CourtroomError as exc:
            return exc


def _session(job: Job) -> str | None:
    """The session a job writes, or None when it does not name one (a ``Disconnect``)."""
    if isinstance(job, Command | Create):
        return job.session_id
    if isinstance(job, Connect):
        sid = job.row.get("session_id")
        return None if sid is None else str(sid)
    return None


def _sessions(batch: list[tuple[Job, asyncio.Future[Any]]]) -> frozenset[str] | None:
    """A running batch's sessions; None if one of its jobs names none (it runs alone)."""
    keys: set[str] = set()
    for job, _ in batch:
        sid = _session(job)
        if sid is None:
            return None
        keys.add(sid)
    return frozenset(keys)


def silence(fut: asyncio.Future[Any]) -> None:
    """For fire-and-forget jobs: log a failure instead of leaving it unretrieved."""

    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and (exc := f.exception()) is not None:
            log.warning("a background write failed: %s", exc)

    fut.add_done_callback(done)
