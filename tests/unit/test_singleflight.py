"""SingleFlight: callers of one key that overlap share one run; nothing is cached."""

from __future__ import annotations

import asyncio

import pytest

from server.live.singleflight import SingleFlight


async def settle() -> None:
    """Let the callers start and the shared run reach its gate."""
    for _ in range(3):
        await asyncio.sleep(0)


class Work:
    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.runs += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.runs


async def test_overlapping_callers_share_one_run_and_the_next_call_runs_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    work = Work()
    callers = [asyncio.create_task(flight.do("a", work)) for _ in range(50)]
    await settle()
    assert work.runs == 1 and len(flight) == 1
    work.gate.set()
    assert await asyncio.gather(*callers) == [1] * 50
    assert len(flight) == 0
    assert await flight.do("a", work) == 2  # finished: a new run, not a cached result


async def test_keys_do_not_share() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    work = Work()
    work.gate.set()
    assert list(await asyncio.gather(flight.do("a", work), flight.do("b", work))) == [1, 2]


async def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    work = Work()
    work.fail = LookupError("no such session")
    callers = [asyncio.create_task(flight.do("a", work)) for _ in range(3)]
    await settle()
    work.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results) and work.runs == 1
    work.fail = None
    assert await flight.do("a", work) == 2


async def test_a_cancelled_caller_leaves_the_run_to_the_others() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    work = Work()
    first = asyncio.create_task(flight.do("a", work))
    second = asyncio.create_task(flight.do("a", work))
    await settle()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    work.gate.set()
    assert await second == 1 and work.runs == 1


async def test_a_run_every_caller_abandoned_still_finishes_quietly() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    work = Work()
    work.fail = RuntimeError("nobody is listening")
    only = asyncio.create_task(flight.do("a", work))
    await settle()
    only.cancel()
    work.gate.set()
    await asyncio.sleep(0.01)
    # The failure was retrieved (no "exception was never retrieved" at collection;
    # the suite turns warnings into errors) and the key is free again.
    assert len(flight) == 0
