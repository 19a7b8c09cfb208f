"""The async edge of `timers`: wake at deadlines and hand the due keys over.

The runner keeps no timer state that matters: the deadlines live in session
state, and the runner is only an alarm clock over them. ``on_due(key)`` is
expected to issue an ordinary expiry command whose transaction makes the expiry
happen exactly once, so firing late, twice, or on another node is harmless.

Each wait is computed afresh from the clock (never by summing sleeps), so the
runner does not drift, and it is capped at ``max_sleep_ms`` so a wall clock
stepped forward is noticed within that time.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from ._clock import Clock
from ._deadlines import DeadlineQueue

__all__ = ["RunnerState", "TimerRunner"]

logger = logging.getLogger("timers.runner")


class RunnerState(enum.Enum):
    """The runner's lifecycle: IDLE → RUNNING → (IDLE again if run() was cancelled) → CLOSED."""

    IDLE = "idle"
    RUNNING = "running"
    CLOSED = "closed"


class TimerRunner:
    """Call ``on_due(key)`` once each scheduled deadline has passed.

    Call order: construct, then run `run` as a task (or use ``async with``),
    `schedule` / `cancel` from anywhere on the same event loop, and `close` at
    the end. Keys due at the same millisecond fire in key order, one at a time.
    A key is removed before ``on_due`` is called, so ``on_due`` may schedule it
    again. An exception from ``on_due`` is logged and the loop goes on.

    Args:
        clock: Returns the current time in epoch milliseconds.
        on_due: Awaited with each key whose deadline has passed.
        sleep: Awaited with the number of seconds to wait; tests inject a fake
            that moves a `ManualClock` instead of sleeping.
        max_sleep_ms: The longest single wait, in milliseconds.
        retry_ms: If set, a key whose ``on_due`` raised fires again this many
            milliseconds later (unless the callback scheduled or cancelled it).
            Safe when expiry is idempotent, and it keeps a failed expiry (say,
            the database was briefly down) from being lost.
    """

    def __init__(
        self,
        clock: Clock,
        on_due: Callable[[str], Awaitable[None]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_sleep_ms: int = 1_000,
        retry_ms: int | None = None,
    ) -> None:
        if max_sleep_ms <= 0:
            raise ValueError(f"max_sleep_ms must be positive, got {max_sleep_ms}")
        if retry_ms is not None and retry_ms <= 0:
            raise ValueError(f"retry_ms must be positive, got {retry_ms}")
        self._clock = clock
        self._on_due = on_due
        self._sleep = sleep
        self._max_sleep_ms = max_sleep_ms
        self._queue: DeadlineQueue[str] = DeadlineQueue()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()  # set whenever no run loop is in progress
        self._retry_ms = retry_ms
        # The key whose callback is running, and whether that callback has
        # scheduled or cancelled it (then a failure must not retry it).
        self._firing: str | None = None
        self._firing_touched = False
        self._state = RunnerState.IDLE
        self._task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> RunnerState:
        """Where the runner is in its lifecycle."""
        return self._state

    def deadline(self, key: str) -> int | None:
        """Return the deadline scheduled for ``key``, or ``None``."""
        return self._queue.get(key)

    def next_deadline(self) -> int | None:
        """Return the earliest scheduled deadline, or ``None``."""
        return self._queue.next()

    def schedule(self, key: str, deadline_ms: int) -> None:
        """Fire ``key`` at ``deadline_ms``, replacing any deadline it had.

        A deadline already in the past fires on the runner's next turn. After
        `close` this is ignored: deadlines live in session state, so whoever
        runs next derives them again.
        """
        if self._state is RunnerState.CLOSED:
            logger.debug("runner closed; not scheduling %r", key)
            return
        self._queue.set(key, deadline_ms)
        self._touch(key)
        self._wake.set()

    def cancel(self, key: str) -> bool:
        """Stop ``key`` from firing; return whether it was scheduled."""
        self._touch(key)
        return self._queue.remove(key)

    async def run(self) -> None:
        """Fire deadlines until `close` is called.

        Raises:
            RuntimeError: If the runner is already running or closed.
        """
        self._begin()
        await self._loop()

    async def close(self) -> None:
        """Stop the runner and wait for `run` to return.

        An ``on_due`` call in progress is allowed to finish. Safe to call more
        than once, before `run`, and from inside ``on_due`` (then it returns at
        once and `run` returns after that callback).
        """
        self._state = RunnerState.CLOSED
        self._wake.set()
        current = asyncio.current_task()
        if self._run_task is not None and self._run_task is current:
            return
        if not self._stopped.is_set():
            await self._stopped.wait()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def __aenter__(self) -> TimerRunner:
        """Start `run` as a background task; leaving the block calls `close`."""
        self._begin()
        self._task = asyncio.create_task(self._loop(), name="timers.TimerRunner.run")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _begin(self) -> None:
        # Synchronous, so a close() right after __aenter__ sees a runner that
        # is already RUNNING even though its task has not been stepped yet.
        if self._state is not RunnerState.IDLE:
            raise RuntimeError(f"cannot run a timer runner that is {self._state.value}")
        self._state = RunnerState.RUNNING
        self._stopped.clear()

    async def _loop(self) -> None:
        self._run_task = asyncio.current_task()
        try:
            while self._state is RunnerState.RUNNING:
                # Clear before looking: a schedule() from here on sets it again
                # and the wait below returns at once instead of missing it.
                self._wake.clear()
                now_ms = self._clock()
                next_ms = self._queue.next()
                if next_ms is not None and next_ms <= now_ms:
                    await self._fire(now_ms)
                    continue
                if next_ms is None:
                    await self._wake.wait()
                else:
                    await self._wait(min(next_ms - now_ms, self._max_sleep_ms))
        finally:
            if self._state is RunnerState.RUNNING:
                self._state = RunnerState.IDLE  # cancelled from outside: may run again
            self._run_task = None
            self._stopped.set()

    def _touch(self, key: str) -> None:
        if key == self._firing:
            self._firing_touched = True

    async def _fire(self, now_ms: int) -> None:
        # One key at a time, so a key that an earlier callback cancels or moves
        # is simply no longer due, and a cancelled run() leaves the rest queued.
        while self._state is RunnerState.RUNNING:
            key = self._queue.pop_due(now_ms)
            if key is None:
                return
            self._firing, self._firing_touched = key, False
            try:
                await self._on_due(key)
            except Exception:
                logger.exception("timer callback for %r failed", key)
                if self._retry_ms is not None and not self._firing_touched:
                    self.schedule(key, self._clock() + self._retry_ms)
            finally:
                self._firing = None
            # Yield to the loop between callbacks: a callback that reschedules
            # its key in the past must not starve every other task.
            await asyncio.sleep(0)

    async def _wait(self, delay_ms: int) -> None:
        # Race the (injectable) sleep against the wake event: the sleep cannot
        # be interrupted otherwise, and asyncio.wait_for would use loop time
        # instead of the injected sleep.
        wake = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(delay_ms / 1000))
        try:
            await asyncio.wait((wake, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            sleeper.cancel()
            await asyncio.gather(wake, sleeper, return_exceptions=True)
        error = None if sleeper.cancelled() else sleeper.exception()
        if error is not None:
            raise error
