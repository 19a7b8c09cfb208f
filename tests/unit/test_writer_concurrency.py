"""The writer with a backend that takes two batches at once (PostgreSQL's).

A fake backend holds each batch until the test releases it, so the test sees
which batches were being written together. What must hold: batches written
together share no session; each session's jobs are written in queue order;
a job that names no session is written alone, and what was queued after it
waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from store._plan import Command, Connect, Disconnect, Job
from store._writer import Writer


class Gated:
    """Holds each batch until ``release``; records what ran, and what ran together."""

    concurrency = 2

    def __init__(self) -> None:
        self.started: list[list[str]] = []  # each batch's jobs, by label, in start order
        self.running: list[set[str]] = []  # the sessions of the batches being written
        self.overlaps: list[tuple[set[str], set[str]]] = []
        self._gates: list[asyncio.Event] = []

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        sessions = {_sid(j) for j in jobs}
        for other in self.running:
            self.overlaps.append((other, sessions))
        self.running.append(sessions)
        self.started.append([_label(j) for j in jobs])
        gate = asyncio.Event()
        self._gates.append(gate)
        try:
            await gate.wait()
        finally:
            self.running.remove(sessions)
        return [_label(j) for j in jobs]

    def release(self, i: int) -> None:
        self._gates[i].set()

    async def close(self) -> None:
        pass


def _cmd(session: str, n: int) -> Command:
    return Command(session, lambda *a: None, n)  # type: ignore[arg-type]


def _sid(job: Job) -> str:
    if isinstance(job, Command):
        return job.session_id
    if isinstance(job, Connect):
        return str(job.row["session_id"])
    return "-"


def _label(job: Job) -> str:
    if isinstance(job, Command):
        return f"{job.session_id}{job.now}"
    if isinstance(job, Connect):
        return f"+{job.row['session_id']}"
    assert isinstance(job, Disconnect)
    return f"-{job.connection_id}"


@contextlib.asynccontextmanager
async def gated(concurrency: int = 2) -> AsyncIterator[tuple[Gated, Writer]]:
    """A writer over a ``Gated`` backend; every batch released and the writer closed after."""
    backend = Gated()
    backend.concurrency = concurrency
    writer = Writer(backend)
    try:
        yield backend, writer
    finally:
        for gate in backend._gates:
            gate.set()
        await writer.close()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_second_batch_forms_from_other_sessions_while_the_first_is_written() -> None:
    async with gated() as (backend, writer):
        first = [writer.submit_nowait(_cmd("a", 1)), writer.submit_nowait(_cmd("b", 1))]
        await _settle()
        assert backend.started == [["a1", "b1"]]
        # a2 must wait for a1's batch; c1 need not; b2 waits too, and keeps its place.
        later = [writer.submit_nowait(_cmd(s, n)) for s, n in (("a", 2), ("c", 1), ("b", 2))]
        await _settle()
        assert backend.started == [["a1", "b1"], ["c1"]]
        assert backend.overlaps == [({"a", "b"}, {"c"})]
        backend.release(0)
        await _settle()
        assert [f.result() for f in first] == ["a1", "b1"]
        # Two batches are running (c's and now a2 b2's): no third starts.
        assert backend.started[2] == ["a2", "b2"]
        backend.release(1)
        backend.release(2)
        assert await asyncio.gather(*later) == ["a2", "c1", "b2"]


async def test_a_sessions_jobs_never_overtake_one_that_waits() -> None:
    async with gated() as (backend, writer):
        writer.submit_nowait(_cmd("a", 1))
        await _settle()
        futs = [writer.submit_nowait(_cmd(s, n)) for s, n in (("a", 2), ("b", 1), ("a", 3))]
        await _settle()
        assert backend.started == [["a1"], ["b1"]]  # a2 and a3 wait behind a1, in order
        backend.release(1)
        await _settle()
        assert backend.started == [["a1"], ["b1"]]  # still behind a1
        backend.release(0)
        await _settle()
        assert backend.started[2] == ["a2", "a3"]
        backend.release(2)
        assert await asyncio.gather(*futs) == ["a2", "b1", "a3"]
        assert all(not (x & y) for x, y in backend.overlaps)


async def test_a_job_that_names_no_session_is_written_alone_and_the_rest_waits() -> None:
    async with gated() as (backend, writer):
        writer.submit_nowait(_cmd("a", 1))
        await _settle()
        gone = writer.submit_nowait(Disconnect("conn-1"))
        after = writer.submit_nowait(_cmd("b", 1))
        await _settle()
        assert backend.started == [["a1"]]  # b1 was queued after the disconnect: it waits
        backend.release(0)
        await _settle()
        assert backend.started == [["a1"], ["-conn-1", "b1"]]
        presence = writer.submit_nowait(Connect({"session_id": "c", "id": "conn-2"}))
        await _settle()
        assert len(backend.started) == 2  # nothing joins a batch that names no session
        backend.release(1)
        await _settle()
        assert backend.started[2] == ["+c"]
        backend.release(2)
        assert list(await asyncio.gather(gone, after, presence)) == ["-conn-1", "b1", "+c"]


async def test_one_batch_at_a_time_without_concurrency() -> None:
    async with gated(1) as (backend, writer):
        writer.submit_nowait(_cmd("a", 1))
        await _settle()
        other = writer.submit_nowait(_cmd("b", 1))
        await _settle()
        assert backend.started == [["a1"]]
        backend.release(0)
        await _settle()
        backend.release(1)
        assert await other == "b1"
        assert backend.overlaps == []


async def test_a_long_queue_is_split_in_two_batches_written_together() -> None:
    async with gated() as (backend, writer):
        futs = [writer.submit_nowait(_cmd(s, 1)) for s in "abcdefghijklmnop"]  # 16 sessions
        futs.append(writer.submit_nowait(_cmd("a", 2)))  # a's next waits behind a1
        await _settle()
        assert backend.started == [[f"{s}1" for s in "abcdefgh"], [f"{s}1" for s in "ijklmnop"]]
        backend.release(0)
        await _settle()
        assert backend.started[2] == ["a2"]
        backend.release(1)
        backend.release(2)
        assert (await asyncio.gather(*futs))[-1] == "a2"
        assert all(not (x & y) for x, y in backend.overlaps)
