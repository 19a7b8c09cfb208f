"""Concurrent calls for one key share one run of the work (Go's ``singleflight``).

A join storm on a session this node has no mirror of yet sent every arriving
observer to the database for the same two facts: ~480 reads a round of 2,000
arrivals, each queued behind the last (docs/benchmarks.md, §0). With this, the
callers that arrive while a read is running wait for that read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def do(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """``work()``'s result, or that of the run already in flight for ``key``.

        A caller that is cancelled leaves the shared run to the others; a run
        that raises raises in every caller that shared it. The next call after
        a run has finished starts a new one: nothing is cached.
        """
        run = self._running.get(key)
        if run is None:
            run = asyncio.ensure_future(work())
            self._running[key] = run
            run.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(run)

    def _finished(self, key: K, done: asyncio.Future[V]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have been cancelled

    def __len__(self) -> int:
        return len(self._running)
