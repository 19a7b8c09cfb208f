"""Reads of the rows the append projects from the log: rounds, turns, who joined and watched.

A base of ``SessionStore`` (``store/_sessions.py``), apart from the log's
append and reads; the rows themselves are written by ``store/_projections.py``
in the append's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.errors import NotFound
from store._db_errors import mapped as _mapped
from store._schema import (
    classroom_rounds,
    classroom_turn_audit,
    classroom_turns,
    session_observations,
    session_participations,
)


class ProjectionReads:
    """The projections' reads; the subclass provides the engine they read from."""

    read_engine: AsyncEngine

    async def participations(self, session_id: str) -> list[dict[str, Any]]:
        P = session_participations
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(P).where(P.c.session_id == session_id).order_by(P.c.joined_at, P.c.user_id)
            )
            return [dict(r) for r in rows.mappings()]

    async def observations(self, session_id: str) -> dict[str, int]:
        O = session_observations  # noqa: E741, N806
        async with _mapped(), self.read_engine.connect() as c:
            total = await c.scalar(select(func.count()).where(O.c.session_id == session_id))
            now = await c.scalar(
                select(func.count()).where(O.c.session_id == session_id, O.c.left_at.is_(None))
            )
        return {"total": int(total or 0), "current": int(now or 0)}

    # rounds and turns (projections)

    async def round_row(self, round_id: str) -> dict[str, Any]:
        async with _mapped(), self.read_engine.connect() as c:
            row = (
                (await c.execute(select(classroom_rounds).where(classroom_rounds.c.id == round_id)))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("Round not found")
            turns = await c.execute(
                select(classroom_turns)
                .where(classroom_turns.c.round_id == round_id)
                .order_by(classroom_turns.c.turn_order)
            )
            return {**dict(row), "turns": [dict(t) for t in turns.mappings()]}

    async def session_round_ids(self, session_id: str) -> list[str]:
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(classroom_rounds.c.id)
                .where(classroom_rounds.c.session_id == session_id)
                .order_by(classroom_rounds.c.round_index)
            )
            return [str(r.id) for r in rows]

    async def turn_row(self, turn_id: str) -> dict[str, Any]:
        T = classroom_turns  # noqa: N806
        async with _mapped(), self.read_engine.connect() as c:
            row = (
                (
                    await c.execute(
                        select(T, classroom_rounds.c.session_id)
                        .join(classroom_rounds, classroom_rounds.c.id == T.c.round_id)
                        .where(T.c.id == turn_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound("Turn not found")
        return dict(row)

    async def turn_audit(self, turn_id: str) -> list[dict[str, Any]]:
        A = classroom_turn_audit  # noqa: N806
        async with _mapped(), self.read_engine.connect() as c:
            rows = await c.execute(
                select(A).where(A.c.turn_id == turn_id).order_by(A.c.sequence_number, A.c.id)
            )
            return [dict(r) for r in rows.mappings()]

    async def round_session(self, round_id: str) -> str:
        async with _mapped(), self.read_engine.connect() as c:
            sid = await c.scalar(
                select(classroom_rounds.c.session_id).where(classroom_rounds.c.id == round_id)
            )
        if sid is None:
            raise NotFound("Round not found")
        return str(sid)
