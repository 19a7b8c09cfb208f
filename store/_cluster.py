"""Nodes and their live connections: presence across nodes, and cleaning up after a crash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from store._db_errors import mapped as _mapped
from store._schema import cluster_nodes as N, live_connections as LC
from store._sessions import SessionStore


class ClusterStore:
    def __init__(self, sessions: SessionStore) -> None:
        self._s = sessions

    async def heartbeat(self, node: str, now: int) -> None:
        async with _mapped(), self._s.write_engine.begin() as c:
            result = await c.execute(update(N).where(N.c.node_id == node).values(heartbeat_ms=now))
            if not result.rowcount:
                await c.execute(insert(N).values(node_id=node, started_at_ms=now, heartbeat_ms=now))

    async def dead_nodes(self, now: int, ttl_ms: int, *, me: str) -> list[str]:
        """Nodes whose heartbeat is older than ``ttl_ms`` (crashed, or gone without goodbye)."""
        async with _mapped(), self._s.read_engine.connect() as c:
            rows = await c.execute(
                select(N.c.node_id).where(N.c.heartbeat_ms < now - ttl_ms, N.c.node_id != me)
            )
            return [str(r.node_id) for r in rows]

    async def forget_node(self, node: str) -> None:
        async with _mapped(), self._s.write_engine.begin() as c:
            await c.execute(delete(N).where(N.c.node_id == node))

    async def add_connection(
        self,
        *,
        connection_id: str,
        session_id: str,
        node: str,
        kind: str,
        user_id: str | None,
        observation_id: str | None,
        now: int,
        wait: bool = True,
    ) -> None:
        """Register a live connection (a writer job: a crowd arriving is a few batches).

        ``wait=False`` queues the row and returns at once; a failure is logged.
        """
        row = {
            "id": connection_id,
            "session_id": session_id,
            "node_id": node,
            "kind": kind,
            "user_id": user_id,
            "observation_id": observation_id,
            "connected_at_ms": now,
        }
        fut = self._s.add_connection(row, wait=wait)
        if wait:
            await fut

    async def remove_connection(self, connection_id: str) -> bool:
        """Delete one connection's row; False if another node already cleaned it up."""
        return await self._s.remove_connection(connection_id)

    async def take_node_connections(self, node: str) -> list[dict[str, Any]]:
        """Remove and return a dead node's connections (each row goes to one cleaner only)."""
        async with _mapped(), self._s.write_engine.begin() as c:
            rows = await c.execute(delete(LC).where(LC.c.node_id == node).returning(*LC.c))
            return [dict(r) for r in rows.mappings()]

    async def observers(self, session_id: str) -> int:
        from sqlalchemy import func

        async with _mapped(), self._s.read_engine.connect() as c:
            n = await c.scalar(
                select(func.count()).where(LC.c.session_id == session_id, LC.c.kind == "observer")
            )
        return int(n or 0)
