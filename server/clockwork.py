"""Drives the sessions' deadlines: the timer runner wired to the courtroom.

A deadline lives in the session's state (``next_action_ms`` on its row). This
node schedules every known deadline at start-up (so a turn whose time ran out
while the server was down expires at once, with its true deadline logged), and
after every commit. When one is due it sends ``TimerDue`` through the ordinary
command path, whose transaction makes the expiry happen exactly once however
often, late, or on however many nodes it fires.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.errors import CourtroomError
from server.courtroom import Courtroom
from server.rules import rounds
from server.rules.commands import TimerDue
from server.rules.state import SERVER, SessionState
from timers import TimerRunner

log = logging.getLogger("courtroom.clockwork")


class Clockwork:
    def __init__(self, courtroom: Courtroom, *, max_sleep_ms: int = 1000) -> None:
        self._courtroom = courtroom
        self._runner = TimerRunner(
            courtroom.clock, self._due, max_sleep_ms=max_sleep_ms, retry_ms=1000
        )
        self._task: asyncio.Task[None] | None = None
        courtroom.on_commit(self._committed)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._runner.run(), name="clockwork")
        for session_id, due in await self._courtroom.store.due_sessions():
            self._runner.schedule(session_id, due)

    async def close(self) -> None:
        await self._runner.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _committed(self, session_id: str, state: SessionState) -> None:
        due = rounds.next_action_ms(state)
        if due is None:
            self._runner.cancel(session_id)
        else:
            self._runner.schedule(session_id, due)

    async def _due(self, session_id: str) -> None:
        try:
            committed = await self._courtroom.execute(session_id, TimerDue(), SERVER)
        except CourtroomError as exc:
            if exc.temporary:
                raise  # the runner retries: a database blip must not lose an expiry
            log.info("timer for %s refused: %s", session_id, exc)
            return
        if not committed.entries:
            # Woken early or twice: re-arm from the state as committed.
            due = rounds.next_action_ms(SessionState.from_dict(committed.state))
            if due is not None:
                self._runner.schedule(session_id, due)
