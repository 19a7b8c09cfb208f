"""Clocks: where "now" comes from.

Time is an input to everything in `timers`: pure code takes ``now_ms`` as an
argument, and the one async part (the runner) asks an injected `Clock`. A clock
returns integer milliseconds since the Unix epoch, because the values end up in
a JSON log that forbids floats and must mean the same on every node.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "system_clock"]


class Clock(Protocol):
    """Anything callable that returns the current time in epoch milliseconds."""

    def __call__(self) -> int: ...


def system_clock() -> int:
    """Return the wall-clock time in integer milliseconds since the Unix epoch.

    Wall time rather than a monotonic clock: deadlines are persisted and compared
    across processes and machines, which only a shared epoch makes meaningful.
    """
    return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    Args:
        start_ms: The initial time in epoch milliseconds.
    """

    __slots__ = ("_now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = _as_int("start_ms", start_ms)

    def __call__(self) -> int:
        return self._now_ms

    def __repr__(self) -> str:
        return f"ManualClock({self._now_ms})"

    def advance(self, ms: int) -> int:
        """Move the clock forward by ``ms`` milliseconds and return the new time.

        Raises:
            ValueError: If ``ms`` is negative (use `set` to jump backwards).
            TypeError: If ``ms`` is not an int.
        """
        if _as_int("ms", ms) < 0:
            raise ValueError(f"cannot advance a clock by a negative amount ({ms} ms)")
        self._now_ms += ms
        return self._now_ms

    def set(self, ms: int) -> None:
        """Jump to ``ms``, backwards too: wall clocks do that when NTP steps them.

        Raises:
            TypeError: If ``ms`` is not an int.
        """
        self._now_ms = _as_int("ms", ms)


def _as_int(name: str, value: int) -> int:
    # bool is an int subclass and float sneaks in from arithmetic; both would
    # corrupt a JSON log that expects integer milliseconds.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of milliseconds, got {value!r}")
    return value
