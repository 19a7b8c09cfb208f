"""Presence across nodes: every open socket is a row; a crashed node's rows are swept.

Each node registers its connections in ``live_connections`` and beats a
heartbeat into ``cluster_nodes`` every ``node_ttl_ms / 4``. A participant's
departure is decided inside the session's transaction, which counts the
user's connections on *all* nodes: only the last one to go makes the user
"reconnecting" (for ``reconnect_grace_ms``, then "disconnected" by the
session's own timer), whichever node it was on.

A node that stops beating for ``node_ttl_ms`` has crashed: any other node
takes its rows (each row is deleted by exactly one sweeper) and logs their
departures. So a crashed node's clients are marked reconnecting within
``node_ttl_ms`` + ``node_ttl_ms / 4``, and disconnected ``reconnect_grace_ms``
later unless they came back on another node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from protocol.errors import CourtroomError, InvalidTransition, NotFound
from server.live.courtroom import Courtroom
from server.live.observers import ObserverGate
from server.rules import commands as c
from server.rules.state import Actor
from store import ClusterStore, TxInfo

log = logging.getLogger("courtroom.presence")


class PresenceTracker:
    def __init__(
        self,
        cluster: ClusterStore,
        courtroom: Courtroom,
        observers: ObserverGate,
        *,
        node_ttl_ms: int,
        grace_ms: int,
    ) -> None:
        assert courtroom.node_id is not None
        self._cluster = cluster
        self._court = courtroom
        self._observers = observers
        self.node = courtroom.node_id
        self._ttl = node_ttl_ms
        self._grace = grace_ms
        self._task: asyncio.Task[None] | None = None
        # Rows taken from dead nodes whose departure did not commit (the database
        # was down): their rows are gone, so only this node can still log them.
        self._unlogged: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self._cluster.heartbeat(self.node, self._court.clock())
        self._task = asyncio.create_task(self._loop(), name="presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(CourtroomError):
            await self._cluster.forget_node(self.node)

    async def connected(
        self,
        connection_id: str,
        session_id: str,
        *,
        kind: str,
        user_id: str | None,
        observation_id: str | None,
        wait: bool = True,
    ) -> None:
        """Register one socket; ``wait=False`` queues the row without waiting for its commit."""
        await self._cluster.add_connection(
            connection_id=connection_id,
            session_id=session_id,
            node=self.node,
            kind=kind,
            user_id=user_id,
            observation_id=observation_id,
            now=self._court.clock(),
            wait=wait,
        )

    async def disconnected(
        self,
        connection_id: str,
        session_id: str,
        *,
        kind: str,
        user_id: str | None,
        observation_id: str | None,
        log_departure: bool = True,
    ) -> None:
        """Forget one socket and, unless told not to, log what its going means."""
        if not await self._cluster.remove_connection(connection_id):
            return  # swept already by another node that thought this one dead
        if log_departure:
            await self._depart(session_id, kind, user_id, observation_id)

    async def _depart(
        self, session_id: str, kind: str, user_id: str | None, observation_id: str | None
    ) -> None:
        try:
            if kind == "participant" and user_id is not None:
                grace = self._grace

                def disconnect(info: TxInfo) -> c.SessionCommand:
                    return c.Disconnect(user_id, info.live_connections or 0, grace)

                await self._court.execute(
                    session_id, disconnect, Actor(user_id=user_id), live_user=user_id
                )
            elif observation_id is not None:
                await self._observers.leave(session_id, observation_id)
        except (InvalidTransition, NotFound):
            pass  # the session completed meanwhile: its record is closed

    async def sweep(self) -> int:
        """Take over the connections of nodes that stopped beating; returns how many were logged.

        A departure whose write fails (the database down) is kept and tried
        again at the next sweep, before any new one.
        """
        rows, self._unlogged = self._unlogged, []
        gone = await self._cluster.dead_nodes(self._court.clock(), self._ttl, me=self.node)
        for dead in gone:
            taken = await self._cluster.take_node_connections(dead)
            log.warning(
                "node %s is gone: logging the departure of %d connections", dead, len(taken)
            )
            rows += taken
        # Concurrently, so a crowd of observers leaves in a few batched entries.
        outcomes = await asyncio.gather(
            *(
                self._depart(r["session_id"], r["kind"], r["user_id"], r["observation_id"])
                for r in rows
            ),
            return_exceptions=True,
        )
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, CourtroomError):
                self._unlogged.append(row)
            elif isinstance(outcome, BaseException):
                raise outcome
        if self._unlogged:
            log.warning("%d departures not logged yet: retrying", len(self._unlogged))
        for dead in gone:
            await self._cluster.forget_node(dead)
        return len(rows) - len(self._unlogged)

    async def _loop(self) -> None:
        period = max(50, self._ttl // 4) / 1000
        while True:
            await asyncio.sleep(period)
            try:
                await self._cluster.heartbeat(self.node, self._court.clock())
                await self.sweep()
            except CourtroomError as exc:  # database down: try again next period
                log.warning("presence upkeep failed: %s", exc)
