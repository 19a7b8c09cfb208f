"""Deferred jobs: written with the next batch that something else starts, or by
their own timer, never alone on arrival (``Writer.submit_nowait(defer=True)``).

A recording backend stands in for the database; the loop is turned by hand
(``asyncio.sleep(0)``), and the deferral's delay is either far longer than the
test or zero, so no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from store._plan import Command, Connect, Job
from store._writer import Writer


class Recording:
    concurrency = 1

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def run(self, jobs: Sequence[Job]) -> list[Any]:
        labels = [_label(j) for j in jobs]
        self.batches.append(labels)
        return labels

    async def close(self) -> None:
        pass


def _label(job: Job) -> str:
    if isinstance(job, Connect):
        return f"+{job.row['id']}"
    assert isinstance(job, Command)
    return f"{job.session_id}{job.now}"


def _connect(n: int) -> Connect:
    return Connect({"id": str(n), "session_id": "s"})


def _cmd(n: int) -> Command:
    return Command("s", lambda *a: None, n)  # type: ignore[arg-type]


async def _started(defer_s: float) -> tuple[Recording, Writer]:
    """A writer whose task is running and idle: one command written ("s0")."""
    backend = Recording()
    writer = Writer(backend, defer_s=defer_s)
    assert await writer.submit(_cmd(0)) == "s0"
    return backend, writer


async def _turn(times: int = 20) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_a_deferred_job_waits_and_rides_with_the_next_batch() -> None:
    backend, writer = await _started(3600)
    joins = [writer.submit_nowait(_connect(i), defer=True) for i in range(3)]
    await _turn()
    assert backend.batches == [["s0"]]  # no batch for the deferred rows alone
    assert not any(f.done() for f in joins)
    # A command starts a batch: the rows queued before it go in it, in order.
    assert await writer.submit(_cmd(1)) == "s1"
    assert backend.batches == [["s0"], ["+0", "+1", "+2", "s1"]]
    assert [f.result() for f in joins] == ["+0", "+1", "+2"]
    await writer.close()


async def test_a_deferred_job_alone_is_written_by_its_timer() -> None:
    backend, writer = await _started(0)
    first = writer.submit_nowait(_connect(1), defer=True)
    second = writer.submit_nowait(_connect(2), defer=True)  # the same wake-up serves both
    assert list(await asyncio.wait_for(asyncio.gather(first, second), 5)) == ["+1", "+2"]
    assert backend.batches == [["s0"], ["+1", "+2"]]
    # The timer is spent: the next deferred job sets its own.
    assert await asyncio.wait_for(writer.submit_nowait(_connect(3), defer=True), 5) == "+3"
    await writer.close()


async def test_close_writes_what_is_deferred() -> None:
    backend, writer = await _started(3600)
    late = writer.submit_nowait(_connect(1), defer=True)
    await asyncio.wait_for(writer.close(), 5)
    assert late.result() == "+1"
    assert backend.batches == [["s0"], ["+1"]]
