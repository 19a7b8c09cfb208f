"""The offset between the server's clock and the client's, from ``server_time_ms`` samples.

Theory: the server stamps ``server_time_ms`` before the frame leaves it, so a
frame stamped ``s`` and received at local time ``r`` says the offset
(server minus local) is at least ``s - r``: every welcome, tick, reply and
pong gives such a lower bound, too low by the one-way delay. A pong also
bounds it from above: it was stamped after the ping left at ``t0``, so the
offset is at most ``s - t0``. The estimate is the middle of the tightest
interval over a sliding window (the window forgets old samples because the
two clocks drift), or the best lower bound while no pong has been seen.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ClockOffset"]


class ClockOffset:
    """Estimates ``server_time_ms - local_ms`` from timestamped frames.

    Args:
        window: how many recent samples of each kind to keep.
    """

    __slots__ = ("_lower", "_upper")

    def __init__(self, window: int = 32) -> None:
        self._lower: deque[float] = deque(maxlen=window)
        self._upper: deque[float] = deque(maxlen=window)

    def observe(self, server_ms: int, received_ms: float) -> None:
        """A frame stamped ``server_ms`` arrived at local time ``received_ms``."""
        self._lower.append(server_ms - received_ms)

    def observe_round_trip(self, server_ms: int, sent_ms: float, received_ms: float) -> None:
        """A pong stamped ``server_ms`` answered a ping sent at ``sent_ms``."""
        self._lower.append(server_ms - received_ms)
        self._upper.append(server_ms - sent_ms)

    @property
    def offset_ms(self) -> float | None:
        """The estimate, or None before the first sample."""
        if not self._lower:
            return None
        low = max(self._lower)
        if not self._upper:
            return low
        high = min(self._upper)
        # Drift or a server clock step can cross the bounds; then the freshest
        # lower bound is the better guess than an empty interval's middle.
        if high < low:
            return self._lower[-1]
        return (low + high) / 2
