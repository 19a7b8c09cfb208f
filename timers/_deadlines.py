"""Which deadline comes next: a pure helper and a keyed min-heap.

`DeadlineQueue` orders entries by ``(deadline_ms, key)`` so that entries due at
the same millisecond come out in key order: the same inputs give the same
firing order on every node and in every replay.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["DeadlineQueue", "next_deadline"]


class _OrderedKey(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __hash__(self) -> int: ...


K = TypeVar("K", bound=_OrderedKey)

# Superseded heap entries are dropped lazily; rebuild once they outnumber the
# live ones by this factor so a key re-set over and over cannot grow the heap.
_COMPACT_FACTOR = 2
_COMPACT_MIN = 64


def next_deadline(deadlines: Iterable[int | None]) -> int | None:
    """Return the earliest deadline, ignoring ``None`` (no deadline); ``None`` if none."""
    return min((d for d in deadlines if d is not None), default=None)


class DeadlineQueue(Generic[K]):
    """Deadlines by key, earliest first; setting a key again replaces its deadline.

    Keys must be hashable and ordered (``str`` and ``int`` are). All operations
    are O(log n) amortised.
    """

    __slots__ = ("_deadlines", "_heap")

    def __init__(self) -> None:
        self._deadlines: dict[K, int] = {}
        self._heap: list[tuple[int, K]] = []

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: object) -> bool:
        return key in self._deadlines

    def __repr__(self) -> str:
        return f"DeadlineQueue({sorted(self.items())!r})"

    def get(self, key: K) -> int | None:
        """Return ``key``'s deadline, or ``None`` if it has none."""
        return self._deadlines.get(key)

    def items(self) -> list[tuple[K, int]]:
        """Return ``(key, deadline_ms)`` pairs in firing order."""
        return sorted(self._deadlines.items(), key=lambda kv: (kv[1], kv[0]))

    def set(self, key: K, deadline_ms: int) -> None:
        """Give ``key`` the deadline ``deadline_ms``, replacing any earlier one."""
        if self._deadlines.get(key) == deadline_ms:
            return
        self._deadlines[key] = deadline_ms
        heapq.heappush(self._heap, (deadline_ms, key))
        if len(self._heap) > max(_COMPACT_MIN, _COMPACT_FACTOR * len(self._deadlines)):
            self._heap = [(d, k) for k, d in self._deadlines.items()]
            heapq.heapify(self._heap)

    def remove(self, key: K) -> bool:
        """Forget ``key``'s deadline; return whether it had one."""
        return self._deadlines.pop(key, None) is not None

    def next(self) -> int | None:
        """Return the earliest deadline, or ``None`` if the queue is empty."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def due(self, now_ms: int) -> list[K]:
        """Remove and return the keys whose deadline is ``<= now_ms``.

        Returns:
            The keys in ``(deadline_ms, key)`` order.
        """
        keys: list[K] = []
        while (key := self.pop_due(now_ms)) is not None:
            keys.append(key)
        return keys

    def pop_due(self, now_ms: int) -> K | None:
        """Remove and return the first key whose deadline is ``<= now_ms``, if any."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now_ms:
            return None
        _, key = heapq.heappop(self._heap)
        del self._deadlines[key]
        return key

    def _drop_stale(self) -> None:
        # An entry is live iff it still matches the key's current deadline; a
        # duplicate live entry (key set to d, then e, then d) goes stale as soon
        # as the first copy is popped and the key leaves the dict.
        heap = self._heap
        while heap and self._deadlines.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
