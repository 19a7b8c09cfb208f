"""What a backend remembers of the sessions it last committed, least recently used out first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class Remembered(Generic[V]):
    """Up to ``size`` sessions' values; a guess to check against the database, never the truth."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, session_id: str) -> V | None:
        value = self._items.get(session_id)
        if value is not None:
            self._items.move_to_end(session_id)
        return value

    def put(self, values: dict[str, V]) -> None:
        for sid, value in values.items():
            self._items[sid] = self._kept(value)
            self._items.move_to_end(sid)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def _kept(self, value: V) -> V:
        """What is stored for ``value`` (a subclass may copy it)."""
        return value

    def forget(self, session_ids: Sequence[str] | set[str]) -> None:
        for sid in session_ids:
            self._items.pop(sid, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
