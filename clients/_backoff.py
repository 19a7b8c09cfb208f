"""Reconnect back-off: exponential, capped, jittered.

The policy is a pure function of the attempt number and a random draw, so its
schedule is tested without sleeping and the connection loop owns the only
state (the attempt counter).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with jitter: ``initial * factor**(n-1)``, capped at ``maximum``.

    Each delay is scaled by a random factor in ``[1 - jitter, 1]`` so that the
    clients a restarting server dropped all at once do not come back all at
    once (the "thundering herd"); the cap still bounds the wait.

    Args:
        initial: the first delay, in seconds.
        maximum: the longest delay, in seconds.
        factor: growth per attempt.
        jitter: the fraction of each delay that is random, 0 (none) to 1 ("full jitter").
    """

    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("need 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def ceiling(self, attempt: int) -> float:
        """The delay before ``attempt`` (1, 2, ...) without jitter."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        # Cap the exponent first: factor**attempt overflows a float long before
        # a client gives up, and the result is capped anyway.
        exp = min(attempt - 1, 64)
        return min(self.maximum, self.initial * self.factor**exp)

    def delay(self, attempt: int, draw: float | None = None) -> float:
        """The delay before reconnect ``attempt``.

        Args:
            attempt: 1 for the first reconnect after a working connection, then 2, ...
            draw: a number in ``[0, 1)``; ``random.random()`` when omitted. Tests pass one.

        Returns:
            Seconds to wait, within ``[ceiling * (1 - jitter), ceiling]``.
        """
        r = random.random() if draw is None else draw
        return self.ceiling(attempt) * (1 - self.jitter * r)
