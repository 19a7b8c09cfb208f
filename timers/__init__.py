"""Timer arithmetic for speaking turns, with time as an input.

Pure parts (no I/O, no event loop): `TurnClock` (start, pause, resume,
remaining, expired), `crossed_warnings`, `next_deadline` and `DeadlineQueue`.
The one async part is `TimerRunner`, an alarm clock that calls back when a
deadline passes. Every time is an integer of milliseconds since the Unix epoch,
read from an injected `Clock` (`system_clock` in production, `ManualClock` in
tests).
"""

from __future__ import annotations

from ._clock import Clock, ManualClock, system_clock
from ._deadlines import DeadlineQueue, next_deadline
from ._runner import RunnerState, TimerRunner
from ._turn_clock import ClockStateError, TurnClock, crossed_warnings

__all__ = [
    "Clock",
    "ClockStateError",
    "DeadlineQueue",
    "ManualClock",
    "RunnerState",
    "TimerRunner",
    "TurnClock",
    "crossed_warnings",
    "next_deadline",
    "system_clock",
]
