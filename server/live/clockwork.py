"""Drives the sessions' deadlines: the timer runner, leases and fencing.

A deadline lives in the session's state (``next_action_ms`` on its row). The
node that last changed a session's clock owns its timer: the commit records
``timer_owner``, a lease, and a fencing token that moves on whenever
ownership does. The owner keeps its leases alive; every node claims timers
whose lease lapsed (a crashed node's), so another node takes over within
``lease_ms`` plus one maintenance period. When a deadline is due the owner
sends ``TimerDue`` with its token; the transaction ignores a stale token, and
decides against the locked state, so the turn expires exactly once however
often, late, or on however many nodes a timer fires.

A single-node deployment claims every timer at start-up: a deadline that passed
while the server was down expires at once, with its true time in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from protocol.errors import CourtroomError
from server.live.courtroom import Courtroom
from server.rules.commands import TimerDue
from server.rules.state import SERVER
from store import Committed
from timers import TimerRunner

log = logging.getLogger("courtroom.clockwork")


class Clockwork:
    def __init__(
        self,
        courtroom: Courtroom,
        *,
        max_sleep_ms: int = 1000,
        single_node: bool = True,
    ) -> None:
        if courtroom.node_id is None:
            raise ValueError("the clockwork needs a node id")
        self._court = courtroom
        self._node: str = courtroom.node_id
        self._lease_ms = courtroom.lease_ms
        self._single = single_node
        self._fences: dict[str, int] = {}
        self._runner = TimerRunner(
            courtroom.clock, self._due, max_sleep_ms=max_sleep_ms, retry_ms=1000
        )
        self._tasks: list[asyncio.Task[None]] = []
        courtroom.on_commit(self._committed)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._runner.run(), name="clockwork"))
        await self._claim("all" if self._single else "restart")
        self._tasks.append(asyncio.create_task(self._maintain(), name="clockwork-leases"))

    async def close(self) -> None:
        await self._runner.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def owns(self, session_id: str) -> bool:
        return session_id in self._fences

    async def _claim(self, mode: str) -> None:
        now = self._court.clock()
        for session_id, due, fence in await self._court.store.claim_timers(
            self._node, now, self._lease_ms, mode=mode
        ):
            log.info("driving the timer of %s (fence %d)", session_id, fence)
            self._fences[session_id] = fence
            self._runner.schedule(session_id, due)

    async def _maintain(self) -> None:
        period = max(50, self._lease_ms // 3) / 1000
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(CourtroomError):  # database down: try next period
                await self._court.store.renew_leases(
                    self._node, self._court.clock(), self._lease_ms
                )
                await self._claim("orphans")

    def _committed(self, session_id: str, committed: Committed) -> None:
        due = committed.next_action_ms
        if due is not None and committed.timer_owner == self._node:
            self._fences[session_id] = committed.timer_fence
            self._runner.schedule(session_id, due)
        else:
            self._fences.pop(session_id, None)
            self._runner.cancel(session_id)

    async def _due(self, session_id: str) -> None:
        fence = self._fences.get(session_id)
        if fence is None:
            return
        try:
            committed = await self._court.execute(session_id, TimerDue(), SERVER, fence=fence)
        except CourtroomError as exc:
            if exc.temporary:
                raise  # the runner retries: a database blip must not lose an expiry
            log.info("timer for %s refused: %s", session_id, exc)
            return
        if committed.fenced:
            log.info("lost the timer of %s to %s", session_id, committed.timer_owner)
            self._fences.pop(session_id, None)
            return
        if not committed.entries:
            # Woken early or twice: re-arm from the state as committed.
            due = committed.next_action_ms
            if due is not None:
                self._runner.schedule(session_id, due)
