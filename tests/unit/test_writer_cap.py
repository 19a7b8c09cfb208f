"""The writer's size cap (``Writer(max_batch=...)``): more jobs waiting than the cap
are written in batches of at most the cap, every one once, each session's in order.

A recording backend stands in for the database (test_writer_defer.py's); every job
is queued before the writer's task first runs, so the whole queue is waiting at once.
"""

from __future__ import annotations

import asyncio

import pytest

from store._plan import Command
from store._writer import SPLIT_MIN, Writer
from tests.unit.test_writer_defer import Recording

CAP = 3
SESSIONS = "abcdefgh"  # more than the cap: a batch beside a running one has others to take


def _cmd(session: str, n: int) -> Command:
    return Command(session, lambda *a: None, n)  # type: ignore[arg-type]


@pytest.mark.parametrize("concurrency", [pytest.param(1, id="one"), pytest.param(2, id="two")])
async def test_no_batch_exceeds_the_cap_and_every_job_is_written_in_order(
    concurrency: int,
) -> None:
    backend = Recording()
    backend.concurrency = concurrency  # two: the later batches form beside a running one
    writer = Writer(backend, max_batch=CAP)
    # Enough to split were it not for the cap (``SPLIT_MIN``).
    labels = [f"{SESSIONS[n % len(SESSIONS)]}{n}" for n in range(4 * SPLIT_MIN + 1)]
    futs = [writer.submit_nowait(_cmd(label[0], int(label[1:]))) for label in labels]
    assert await asyncio.wait_for(asyncio.gather(*futs), 5) == labels
    await writer.close()

    assert all(1 <= len(b) <= CAP for b in backend.batches), backend.batches
    written = [label for batch in backend.batches for label in batch]
    assert sorted(written) == sorted(labels)  # each once
    for s in SESSIONS:
        assert [x for x in written if x[0] == s] == [x for x in labels if x[0] == s]
    if concurrency == 1:
        assert written == labels
        assert len(backend.batches) == -(-len(labels) // CAP)  # every batch full but the last
