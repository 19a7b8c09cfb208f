"""Coalesce observers' arrivals and departures into as few log entries as possible.

Every observer's arrival and departure is recorded, and every entry goes to
every observer. Logged one by one, a thousand observers joining would be a
thousand commits and a million deliveries. So, per session, this node commits
at most one observer change at a time, and after each it lets ``window_ms``
pass before the next: the changes that arrive meanwhile go in together. One
observer in a quiet room is logged at once; a crowd arriving over two seconds
becomes about ``2000 / window_ms`` entries, whatever its size.

Past an audience of ``AUDIENCE_UNIT`` (``Hub.audience``: the session's
connections on this node, or the observers its log counts on all nodes) the
pause grows with it (``pause_s``): each entry is one delivery per connection, so
a fixed window let a storm's deliveries grow with the square of the crowd
(at 10,000 over two nodes, ~100 entries to ~5,000 sockets each: the servers'
and the clients' CPU went to them, docs/benchmarks.md). The pause keeps the
deliveries of observer changes at about ``AUDIENCE_UNIT / window`` a second
per session and node, however large the audience.

The window delays only the record, never a person: an observer is welcomed
before its arrival is logged (``server/live/ws.py``). What it bounds is the fan-out
of a join storm, which is entries × observers present: at 2,000 observers,
one entry per commit (no window) was ~170 entries and ~180,000 deliveries,
and those deliveries, not the commits, were what kept the crowd waiting
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from server.live.courtroom import Courtroom
from server.rules import commands as c
from server.rules.state import SERVER, Actor

# Up to an audience of this many connections, the pause is the window itself.
AUDIENCE_UNIT = 1000
# The stretch never takes the pause past this (a longer window is kept as set):
# it delays the record of arrivals, and a closing gate's last departures.
MAX_STRETCHED_S = 5.0


def pause_s(window_s: float, audience: int) -> float:
    """How long the next observer changes gather after one is logged, in seconds:
    the window, stretched in proportion to an audience beyond ``AUDIENCE_UNIT``."""
    stretched = window_s * max(1.0, audience / AUDIENCE_UNIT)
    return min(stretched, max(window_s, MAX_STRETCHED_S))


@dataclass(slots=True)
class _Pending:
    joins: list[tuple[c.Observation, asyncio.Future[None]]] = field(default_factory=list)
    leaves: list[tuple[str, asyncio.Future[None]]] = field(default_factory=list)


class ObserverGate:
    def __init__(
        self,
        courtroom: Courtroom,
        *,
        window_ms: int = 250,
        audience: Callable[[str], int] = lambda _sid: 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``audience``: how many connections a session's entry goes to
        (``Hub.audience``); ``sleep``: the pause's clock (tests drive it)."""
        self._court = courtroom
        self._window = window_ms / 1000
        self._audience = audience
        self._sleep = sleep
        self._closing = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self._flushing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, session_id: str, observation_id: str, user_id: str | None) -> None:
        """Log one observer's arrival; returns once it is committed (raises if refused)."""
        await self.join_nowait(session_id, observation_id, user_id)

    def join_nowait(
        self, session_id: str, observation_id: str, user_id: str | None
    ) -> asyncio.Future[None]:
        """Queue one observer's arrival; the future resolves when it is committed.

        An observer's welcome does not wait for this: a crowd arriving at once
        is admitted at the speed of the sockets, and its arrivals reach the log
        a few batched entries later (and reach every observer, this one too).
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(session_id, _Pending()).joins.append(
            (c.Observation(observation_id, user_id), fut)
        )
        self._kick(session_id)
        return fut

    async def leave(self, session_id: str, observation_id: str) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(session_id, _Pending()).leaves.append((observation_id, fut))
        self._kick(session_id)
        await fut

    def _kick(self, session_id: str) -> None:
        if session_id in self._flushing:
            return  # the running flush picks it up
        self._flushing.add(session_id)
        task = asyncio.create_task(self._flush(session_id), name=f"observers-{session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, session_id: str) -> None:
        try:
            while (batch := self._pending.pop(session_id, None)) is not None:
                if batch.joins:
                    obs = tuple(o for o, _ in batch.joins)
                    # A lone signed-in observer is the actor of their own arrival.
                    actor = Actor(user_id=obs[0].user_id) if len(obs) == 1 else SERVER
                    await self._run(session_id, c.Observe(obs), actor, [f for _, f in batch.joins])
                if batch.leaves:
                    ids = tuple(o for o, _ in batch.leaves)
                    await self._run(
                        session_id, c.Unobserve(ids), SERVER, [f for _, f in batch.leaves]
                    )
                if self._window > 0 and not self._closing.is_set():
                    await self._pause(session_id)
        finally:
            self._flushing.discard(session_id)
            if session_id in self._pending:  # arrived after the loop's last look
                self._kick(session_id)

    async def _pause(self, session_id: str) -> None:
        """Let the next changes gather; cut short when the gate closes (its last
        departures are logged at once, not a pause later)."""
        nap = asyncio.ensure_future(self._sleep(pause_s(self._window, self._audience(session_id))))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait((nap, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            nap.cancel()
            closing.cancel()

    async def _run(
        self,
        session_id: str,
        cmd: c.SessionCommand,
        actor: Actor,
        futures: list[asyncio.Future[None]],
    ) -> None:
        try:
            await self._court.execute(session_id, cmd, actor)
        except Exception as exc:
            for f in futures:
                if not f.done():
                    f.set_exception(exc)
            return
        for f in futures:
            if not f.done():
                f.set_result(None)

    async def close(self) -> None:
        self._closing.set()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
