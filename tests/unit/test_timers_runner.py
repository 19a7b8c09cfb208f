"""The timer runner, driven by a ManualClock and a fake sleep: no real waiting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from timers import ManualClock, RunnerState, TimerRunner, system_clock

T0 = 1_700_000_000_000


class FakeTime:
    """A ManualClock plus a sleep that never waits on the real clock.

    ``autojump``: each sleep moves the clock by the requested time (plus
    ``overshoot_ms``, like a late OS timer) and returns. Otherwise a sleep
    blocks until the test calls `advance` past its wake-up time.
    """

    def __init__(self, *, autojump: bool = False, overshoot_ms: int = 0) -> None:
        self.clock = ManualClock(T0)
        self.autojump = autojump
        self.overshoot_ms = overshoot_ms
        self.requests: list[float] = []
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        self.requests.append(seconds)
        ms = round(seconds * 1000)
        if self.autojump:
            self.clock.advance(ms + self.overshoot_ms)
            await asyncio.sleep(0)
            return
        entry = (self.clock() + ms, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)
        for wake_at, fut in self._sleepers:
            if wake_at <= self.clock() and not fut.done():
                fut.set_result(None)


class Recorder:
    """An on_due that records (key, clock time) and can be told to misbehave."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.fired: list[tuple[str, int]] = []
        self.hooks: dict[str, Callable[[str], None]] = {}

    async def __call__(self, key: str) -> None:
        self.fired.append((key, self.clock()))
        hook = self.hooks.get(key)
        if hook is not None:
            hook(key)

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.fired]


async def settle(until: Callable[[], bool] = lambda: False, rounds: int = 200) -> None:
    """Yield to the loop until ``until()`` holds (or ``rounds`` yields pass)."""
    for _ in range(rounds):
        if until():
            return
        await asyncio.sleep(0)


def make(fake: FakeTime, **kwargs: int | None) -> tuple[TimerRunner, Recorder]:
    rec = Recorder(fake.clock)
    return TimerRunner(fake.clock, rec, sleep=fake.sleep, **kwargs), rec  # type: ignore[arg-type]


async def test_fires_at_the_deadline_without_drift() -> None:
    fake = FakeTime(autojump=True)
    runner, rec = make(fake)
    runner.schedule("turn", T0 + 4_500)
    async with runner:
        await settle(lambda: bool(rec.fired))
    assert rec.fired == [("turn", T0 + 4_500)]
    assert fake.requests == [1.0, 1.0, 1.0, 1.0, 0.5]  # capped at max_sleep_ms
    assert runner.state is RunnerState.CLOSED


async def test_late_sleeps_do_not_accumulate() -> None:
    fake = FakeTime(autojump=True, overshoot_ms=7)
    runner, rec = make(fake)
    runner.schedule("turn", T0 + 3_000)
    async with runner:
        await settle(lambda: bool(rec.fired))
    # Each wait is recomputed from the clock (the last one is 986 ms, not 1000),
    # so the turn fires one overshoot late, not three.
    assert fake.requests == [1.0, 1.0, 0.986]
    assert rec.fired == [("turn", T0 + 3_000 + 7)]


async def test_past_deadline_fires_at_once_and_same_ms_in_key_order() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    for key in ("c", "a", "b"):
        runner.schedule(key, T0 - 60_000)  # e.g. ran out while the server was down
    async with runner:
        await settle(lambda: len(rec.fired) == 3)
    assert rec.keys == ["a", "b", "c"]
    assert fake.requests == []


async def test_rescheduling_earlier_wakes_the_runner() -> None:
    fake = FakeTime()
    runner, rec = make(fake, max_sleep_ms=3_600_000)
    runner.schedule("late", T0 + 600_000)
    async with runner:
        await settle(lambda: fake.requests == [600.0])
        assert fake.requests == [600.0]
        runner.schedule("soon", T0 + 2_000)
        await settle(lambda: len(fake.requests) == 2)
        assert fake.requests == [600.0, 2.0]
        runner.schedule("late", T0 + 1_000)  # re-setting a key replaces its deadline
        await settle(lambda: len(fake.requests) == 3)
        assert fake.requests[-1] == 1.0
        assert runner.next_deadline() == T0 + 1_000
        fake.advance(1_000)
        await settle(lambda: len(rec.fired) == 1)
        fake.advance(1_000)
        await settle(lambda: len(rec.fired) == 2)
    assert rec.fired == [("late", T0 + 1_000), ("soon", T0 + 2_000)]


async def test_idle_runner_waits_for_a_schedule() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    async with runner:
        await settle()
        assert fake.requests == [] and runner.state is RunnerState.RUNNING
        runner.schedule("k", T0 + 500)
        await settle(lambda: bool(fake.requests))
        fake.advance(500)
        await settle(lambda: bool(rec.fired))
    assert rec.fired == [("k", T0 + 500)]


async def test_cancel_prevents_firing() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    runner.schedule("a", T0 + 1_000)
    runner.schedule("b", T0 + 2_000)
    async with runner:
        await settle(lambda: bool(fake.requests))
        assert runner.cancel("a") is True
        assert runner.cancel("a") is False
        assert runner.deadline("a") is None and runner.deadline("b") == T0 + 2_000
        fake.advance(1_000)
        await settle()
        fake.advance(1_000)
        await settle(lambda: bool(rec.fired))
    assert rec.keys == ["b"]


async def test_key_is_removed_before_on_due_and_may_be_rescheduled() -> None:
    fake = FakeTime(autojump=True)
    runner, rec = make(fake)
    seen: list[int | None] = []

    def again(key: str) -> None:
        seen.append(runner.deadline(key))
        if len(rec.fired) < 3:
            runner.schedule(key, fake.clock() + 1_000)  # a periodic tick

    rec.hooks["tick"] = again
    runner.schedule("tick", T0 + 1_000)
    async with runner:
        await settle(lambda: len(rec.fired) == 3)
    assert seen == [None, None, None]
    assert rec.fired == [("tick", T0 + 1_000), ("tick", T0 + 2_000), ("tick", T0 + 3_000)]


async def test_a_callback_may_cancel_or_move_another_due_key() -> None:
    fake = FakeTime()
    runner, rec = make(fake)

    def cancel_b_move_c(key: str) -> None:
        runner.cancel("b")
        runner.schedule("c", T0 + 5_000)

    rec.hooks["a"] = cancel_b_move_c
    for key in ("a", "b", "c"):
        runner.schedule(key, T0)
    async with runner:
        await settle(lambda: bool(fake.requests))
        assert rec.keys == ["a"]
        assert runner.deadline("c") == T0 + 5_000
        fake.advance(5_000)
        await settle(lambda: len(rec.fired) == 2)
    assert rec.keys == ["a", "c"]


async def test_callback_errors_are_logged_and_do_not_stop_the_runner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    runner, rec = make(fake)

    def boom(key: str) -> None:
        raise RuntimeError(f"database down for {key}")

    rec.hooks["bad"] = boom
    runner.schedule("bad", T0)
    runner.schedule("good", T0 + 10)
    with caplog.at_level(logging.ERROR, logger="timers.runner"):
        async with runner:
            fake.advance(10)
            await settle(lambda: len(rec.fired) == 2)
    assert rec.keys == ["bad", "good"]
    assert runner.deadline("bad") is None  # no retry unless asked for
    [record] = caplog.records
    assert "'bad'" in record.getMessage() and record.exc_info is not None


async def test_retry_after_a_failed_callback() -> None:
    fake = FakeTime(autojump=True)
    runner, rec = make(fake, retry_ms=250)
    failures = [2]

    def flaky(key: str) -> None:
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("try again")

    rec.hooks["exp"] = flaky
    runner.schedule("exp", T0 + 1_000)
    async with runner:
        await settle(lambda: len(rec.fired) == 3)
        await settle()
    assert rec.fired == [("exp", T0 + 1_000), ("exp", T0 + 1_250), ("exp", T0 + 1_500)]
    assert runner.deadline("exp") is None


async def test_no_retry_when_the_callback_rescheduled_its_key() -> None:
    fake = FakeTime()
    runner, rec = make(fake, retry_ms=250)

    def moved_then_failed(key: str) -> None:
        runner.schedule(key, T0 + 9_000)
        raise RuntimeError("after rescheduling")

    rec.hooks["k"] = moved_then_failed
    runner.schedule("k", T0)
    async with runner:
        await settle(lambda: bool(fake.requests))
    assert runner.deadline("k") == T0 + 9_000


async def test_close_stops_the_runner() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    runner.schedule("k", T0 + 1_000)
    task = asyncio.create_task(runner.run())
    await settle(lambda: bool(fake.requests))
    assert runner.state is RunnerState.RUNNING
    await runner.close()
    assert task.done() and task.exception() is None
    assert runner.state is RunnerState.CLOSED  # type: ignore[comparison-overlap]
    fake.advance(5_000)
    await settle()
    assert rec.fired == []
    runner.schedule("late", T0)  # ignored after close: deadlines live in session state
    assert runner.deadline("late") is None
    await runner.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await runner.run()


async def test_close_before_run_and_right_after_enter() -> None:
    fake = FakeTime()
    runner, _ = make(fake)
    await runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        async with runner:
            pass

    runner, _ = make(fake)
    async with runner:  # closed before its task ever ran
        pass
    assert runner.state is RunnerState.CLOSED


async def test_close_from_inside_a_callback() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    closed: list[None] = []

    async def on_due(key: str) -> None:
        await rec(key)
        await runner.close()
        closed.append(None)

    runner._on_due = on_due  # swap in a callback that needs the runner itself
    runner.schedule("a", T0)
    runner.schedule("b", T0)
    async with runner:
        await settle(lambda: runner.state is RunnerState.CLOSED)
    assert closed == [None]
    assert rec.keys == ["a"]  # the rest of the batch is not fired after close


async def test_run_twice_is_refused() -> None:
    fake = FakeTime()
    runner, _ = make(fake)
    async with runner:
        with pytest.raises(RuntimeError, match="running"):
            await runner.run()


async def test_cancelled_run_keeps_pending_keys_and_can_run_again() -> None:
    fake = FakeTime()
    runner, rec = make(fake)
    gate = asyncio.Event()

    async def slow(key: str) -> None:
        await rec(key)
        await gate.wait()

    runner._on_due = slow
    runner.schedule("a", T0)
    runner.schedule("b", T0)
    task = asyncio.create_task(runner.run())
    await settle(lambda: bool(rec.fired))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.state is RunnerState.IDLE
    assert runner.deadline("b") == T0  # not lost with the cancelled batch
    gate.set()
    async with runner:
        await settle(lambda: len(rec.fired) == 2)
    assert rec.keys == ["a", "b"]


async def test_cancelled_while_sleeping() -> None:
    fake = FakeTime()
    runner, _ = make(fake)
    runner.schedule("k", T0 + 1_000)
    task = asyncio.create_task(runner.run())
    await settle(lambda: bool(fake.requests))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert runner.state is RunnerState.IDLE and runner.deadline("k") == T0 + 1_000


async def test_a_failing_sleep_ends_run_with_its_error() -> None:
    fake = FakeTime()
    rec = Recorder(fake.clock)

    async def broken_sleep(seconds: float) -> None:
        raise OSError("no timers left")

    runner = TimerRunner(fake.clock, rec, sleep=broken_sleep)
    runner.schedule("k", T0 + 1_000)
    with pytest.raises(OSError, match="no timers left"):
        await runner.run()
    assert runner.state is RunnerState.IDLE


def test_constructor_validates() -> None:
    clock = ManualClock(T0)
    rec = Recorder(clock)
    with pytest.raises(ValueError, match="max_sleep_ms"):
        TimerRunner(clock, rec, max_sleep_ms=0)
    with pytest.raises(ValueError, match="retry_ms"):
        TimerRunner(clock, rec, retry_ms=0)
    runner = TimerRunner(clock, rec)
    assert runner.state is RunnerState.IDLE and runner.next_deadline() is None


async def test_real_clock_and_sleep_smoke() -> None:
    """The defaults (wall clock, asyncio.sleep) work too; 20 ms of real time."""
    fired: list[int] = []

    async def on_due(key: str) -> None:
        fired.append(system_clock())

    runner = TimerRunner(system_clock, on_due)
    deadline = system_clock() + 20
    runner.schedule("k", deadline)
    async with runner:
        await asyncio.wait_for(_until(lambda: bool(fired)), timeout=5)
    assert fired[0] >= deadline


async def _until(pred: Callable[[], bool]) -> None:
    while not pred():
        await asyncio.sleep(0.001)
