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

Failures:

* a job that its rules refuse (or whose ``decide`` raises) fails alone inside
  the plan;
* a write the database refuses (a constraint, e.g. a duplicate id) fails the
  transaction: the batch is rolled back and each of its jobs is run again in
  a transaction of its own, so only the offending job fails;
* the database unreachable: every job of the batch gets ``Unavailable``,
  nothing of it was committed, and the next batch reconnects.

An acknowledged job is therefore always committed, and a job that was not
acknowledged was either committed whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from protocol.errors import CourtroomError, Unavailable
from store._plan import Job

log = logging.getLogger("courtroom.writer")


class Backend(Protocol):
    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        """Run ``jobs`` in one transaction; one outcome (value or exception) per job.

        Raises:
            Unavailable: the database could not be reached; nothing was written.
            CourtroomError: the transaction failed as a whole and was rolled back.
        """

    async def close(self) -> None: ...


class Writer:
    """The queue and the task that drains it into batches.

    Args:
        backend: the database's batch runner.
        max_batch: the most jobs one transaction takes.
    """

    def __init__(self, backend: Backend, *, max_batch: int = 1024) -> None:
        self._backend = backend
        self._max = max_batch
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # counters for the metrics and the benchmarks
        self.jobs = 0

    def submit_nowait(self, job: Job) -> asyncio.Future[Any]:
        """Queue ``job``; the future resolves after its batch commits."""
        if self._closing:
            raise Unavailable("the store is closing")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((job, fut))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")
        return fut

    async def submit(self, job: Job) -> Any:
        return await self.submit_nowait(job)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._backend.close()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
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


def silence(fut: asyncio.Future[Any]) -> None:
    """For fire-and-forget jobs: log a failure instead of leaving it unretrieved."""

    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and (exc := f.exception()) is not None:
            log.warning("a background write failed: %s", exc)

    fut.add_done_callback(done)
