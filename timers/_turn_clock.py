"""The clock of one speaking turn, as a value.

A `TurnClock` is frozen state, not a ticking object: every operation takes the
current time and returns a new clock, so it can be stored in a session's state,
logged as JSON (integers only) and replayed to the same result.

Theory of operation: a clock is in one of three phases.

* **fresh**: never started; ``remaining_ms == allowed_ms``, no deadline.
* **running**: ``deadline_ms`` is set. ``remaining_ms`` then holds the remainder
  at the last start/resume, so the time left is ``deadline_ms - now`` clamped
  to ``[0, remaining_ms]``.
* **paused**: started, no deadline; ``remaining_ms`` is the frozen remainder and
  is what `remaining` returns, whatever the time.

``start`` is legal only when fresh, ``pause`` only when running, ``resume`` only
when paused. Anything else raises `ClockStateError` and, the clock being
immutable, changes nothing. Running past the deadline is not an error: the clock
reports 0 remaining and ``expired``; the rules decide what expiry means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ._clock import _as_int

__all__ = ["ClockStateError", "TurnClock", "crossed_warnings"]


class ClockStateError(ValueError):
    """A clock operation was illegal in the clock's phase, or its state is inconsistent."""


@dataclasses.dataclass(frozen=True, slots=True)
class TurnClock:
    """One speaking turn's clock; all times are integer epoch milliseconds.

    Attributes:
        allowed_ms: The turn's full allowance (> 0).
        remaining_ms: The frozen remainder while not running; while running, the
            remainder at the moment of the last start/resume.
        deadline_ms: When the time runs out; set exactly while running.
        started_at_ms: When the turn first started; ``None`` until then.
    """

    allowed_ms: int
    remaining_ms: int
    deadline_ms: int | None = None
    started_at_ms: int | None = None

    def __post_init__(self) -> None:
        # Validated on every construction (dataclasses.replace included), so a
        # clock rebuilt from a log cannot hold floats or contradictions.
        _as_int("allowed_ms", self.allowed_ms)
        _as_int("remaining_ms", self.remaining_ms)
        if self.deadline_ms is not None:
            _as_int("deadline_ms", self.deadline_ms)
        if self.started_at_ms is not None:
            _as_int("started_at_ms", self.started_at_ms)
        if self.allowed_ms <= 0:
            raise ClockStateError(f"allowed_ms must be positive, got {self.allowed_ms}")
        if not 0 <= self.remaining_ms <= self.allowed_ms:
            raise ClockStateError(
                f"remaining_ms must be within 0..{self.allowed_ms}, got {self.remaining_ms}"
            )
        if self.started_at_ms is None:
            if self.deadline_ms is not None:
                raise ClockStateError("a clock with a deadline must have started_at_ms")
            if self.remaining_ms != self.allowed_ms:
                raise ClockStateError("a clock that never started must have its full allowance")

    @classmethod
    def new(cls, allowed_ms: int) -> TurnClock:
        """Return a fresh clock with the full ``allowed_ms`` remaining.

        Raises:
            ClockStateError: If ``allowed_ms`` is not positive.
        """
        return cls(allowed_ms=allowed_ms, remaining_ms=allowed_ms)

    @property
    def running(self) -> bool:
        """Whether the clock is counting down (it has a deadline)."""
        return self.deadline_ms is not None

    @property
    def started(self) -> bool:
        """Whether the clock was ever started (running or paused)."""
        return self.started_at_ms is not None

    @property
    def paused(self) -> bool:
        """Whether the clock was started and is not running."""
        return self.started and not self.running

    def start(self, now_ms: int) -> TurnClock:
        """Start a fresh clock at ``now_ms``.

        Raises:
            ClockStateError: If the clock was already started.
        """
        if self.started:
            raise ClockStateError("the clock has already been started; use resume() after pause()")
        return dataclasses.replace(
            self, deadline_ms=now_ms + self.remaining_ms, started_at_ms=now_ms
        )

    def pause(self, now_ms: int) -> TurnClock:
        """Freeze the remainder at ``now_ms``, to the millisecond (0 if past the deadline).

        Raises:
            ClockStateError: If the clock is not running.
        """
        if not self.running:
            raise ClockStateError("cannot pause a clock that is not running")
        return dataclasses.replace(self, remaining_ms=self.remaining(now_ms), deadline_ms=None)

    def resume(self, now_ms: int) -> TurnClock:
        """Continue a paused clock from its frozen remainder; the new deadline is
        ``now_ms + remaining_ms``.

        Raises:
            ClockStateError: If the clock is running or was never started.
        """
        if self.running:
            raise ClockStateError("cannot resume a clock that is running")
        if not self.started:
            raise ClockStateError("cannot resume a clock that never started; use start()")
        return dataclasses.replace(self, deadline_ms=now_ms + self.remaining_ms)

    def remaining(self, now_ms: int) -> int:
        """Milliseconds left at ``now_ms``: never negative, constant while not running.

        While running it is also never more than the remainder at the last
        start/resume, so a wall clock stepped backwards cannot add time.
        """
        if self.deadline_ms is None:
            return self.remaining_ms
        return max(0, min(self.remaining_ms, self.deadline_ms - now_ms))

    def elapsed(self, now_ms: int) -> int:
        """Milliseconds of the allowance used up at ``now_ms``."""
        return self.allowed_ms - self.remaining(now_ms)

    def expired(self, now_ms: int) -> bool:
        """Whether no time is left at ``now_ms`` (a clock paused at 0 stays expired)."""
        return self.remaining(now_ms) == 0


def crossed_warnings(
    thresholds_ms: Iterable[int], before_remaining: int, after_remaining: int
) -> list[int]:
    """Return the warning thresholds crossed between two observations of a clock.

    A threshold ``t`` is crossed when the remainder goes from above ``t`` to at
    most ``t``: ``after_remaining <= t < before_remaining``. Because consecutive
    observations cover adjacent half-open ranges, each threshold fires exactly
    once over a turn, however the observations fall (ticks, pauses, restarts).

    Args:
        thresholds_ms: Warning points in milliseconds remaining, any order;
            duplicates count once.
        before_remaining: The remainder at the earlier observation.
        after_remaining: The remainder at the later observation.

    Returns:
        The crossed thresholds, largest (earliest in time) first; empty if the
        remainder did not go down.
    """
    return sorted(
        {t for t in thresholds_ms if after_remaining <= t < before_remaining}, reverse=True
    )
