"""Keep the seeds' tables in step with the log, inside the append's transaction.

The log is the truth; these rows are projections of it that the HTTP routes
read. Each handler gets one event (type, details, actor, timestamp) and the
connection of the transaction that appends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol import event_types as ev
from store._schema import (
    classroom_rounds,
    classroom_turn_audit,
    classroom_turns,
    session_observations,
    session_participations,
)

Handler = Callable[[AsyncConnection, str, dict[str, Any], str | None, str, int], Awaitable[None]]


def _ms_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    from protocol import format_timestamp

    return format_timestamp(datetime.fromtimestamp(ms / 1000, tz=UTC))


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def _joined(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    assert actor is not None
    await c.execute(
        insert(session_participations).values(
            id=_participation_id(sid, actor),
            session_id=sid,
            user_id=int(actor),
            role=d["role"],
            speaker=d.get("speaker"),
            status="connected",
            joined_at=ts,
            connection_count=1,
            client_info=_json(d.get("client_info")),
            created_at=ts,
        )
    )


def _participation_id(sid: str, user_id: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.UUID(sid), f"participant-{user_id}"))


async def _reconnected(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    assert actor is not None
    await c.execute(
        update(session_participations)
        .where(session_participations.c.id == _participation_id(sid, actor))
        .values(status="connected", left_at=None, connection_count=d["connection_count"])
    )


async def _reconnecting(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    assert actor is not None
    await c.execute(
        update(session_participations)
        .where(session_participations.c.id == _participation_id(sid, actor))
        .values(status="reconnecting")
    )


async def _gone(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    assert actor is not None
    await c.execute(
        update(session_participations)
        .where(session_participations.c.id == _participation_id(sid, actor))
        .values(status="disconnected", left_at=ts)
    )


async def _observed(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    await c.execute(
        insert(session_observations),
        [
            {
                "id": o["observation_id"],
                "session_id": sid,
                "user_id": None if o["user_id"] is None else int(o["user_id"]),
                "observed_at": ts,
                "client_info": None,
                "created_at": ts,
            }
            for o in d["observations"]
        ],
    )


async def _unobserved(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    await c.execute(
        update(session_observations)
        .where(session_observations.c.id.in_(d["observation_ids"]))
        .values(left_at=ts)
    )


async def _round_created(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    await c.execute(
        insert(classroom_rounds).values(
            id=d["round_id"],
            session_id=sid,
            round_index=d["round_index"],
            round_type=d["round_type"],
            format=d["format"],
            status="PENDING",
            created_at=ts,
            updated_at=ts,
        )
    )
    await c.execute(
        insert(classroom_turns),
        [
            {
                "id": t["turn_id"],
                "round_id": d["round_id"],
                "participant_id": t["participant_id"],
                "side": t["side"],
                "speaker": t["speaker"],
                "kind": t["kind"],
                "turn_order": t["order"],
                "allowed_seconds": t["allowed_ms"] // 1000,
                "status": "pending",
                "created_at": ts,
                "updated_at": ts,
            }
            for t in d["turns"]
        ],
    )


async def _round_moved(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    # Status and the current speaker come from the decision's round rows (see
    # ``_sessions``); here only the timestamps the event carries.
    values: dict[str, Any] = {"updated_at": ts}
    if "started_at_ms" in d:
        values["started_at"] = _ms_iso(d["started_at_ms"])
    if "ended_at_ms" in d:
        values["ended_at"] = _ms_iso(d["ended_at_ms"])
    if "reason" in d:
        values["abort_reason"] = d["reason"][:500]
    await c.execute(
        update(classroom_rounds).where(classroom_rounds.c.id == d["round_id"]).values(**values)
    )


_AUDIT = {
    ev.TURN_STARTED: "START",
    ev.TURN_SUBMITTED: "SUBMIT",
    ev.TURN_AUTO_SUBMITTED: "AUTO_SUBMIT",
    ev.TURN_TIME_EXPIRED: "TIME_EXPIRED",
    ev.TURN_FORCE_SUBMITTED: "OVERRIDE",
}


async def _turn_event(
    c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> None:
    raise AssertionError("replaced per event type below")


def _turn_handler(event_type: str) -> Handler:
    async def handle(
        c: AsyncConnection, sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
    ) -> None:
        values: dict[str, Any] = {"updated_at": ts}
        if event_type == ev.TURN_STARTED:
            values.update(status="running", started_at=_ms_iso(d["started_at_ms"]))
        elif event_type == ev.TURN_TIME_EXPIRED:
            values.update(status="expired")
        else:
            values.update(
                status={
                    ev.TURN_SUBMITTED: "submitted",
                    ev.TURN_AUTO_SUBMITTED: "auto_submitted",
                    ev.TURN_FORCE_SUBMITTED: "force_submitted",
                }[event_type],
                submitted_at=_ms_iso(d["submitted_at_ms"]),
                transcript=d.get("transcript"),
                word_count=d.get("word_count"),
                is_submitted=True,
                is_late=bool(d.get("late", False)),
            )
        await c.execute(
            update(classroom_turns).where(classroom_turns.c.id == d["turn_id"]).values(**values)
        )
        payload = {k: v for k, v in d.items() if k not in ("transcript",)}
        await c.execute(
            insert(classroom_turn_audit).values(
                turn_id=d["turn_id"],
                action=_AUDIT[event_type],
                actor_user_id=actor,
                payload_json=orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
                sequence_number=seq,
                created_at=ts,
            )
        )

    return handle


HANDLERS: dict[str, Handler] = {
    ev.PARTICIPANT_JOINED: _joined,
    ev.PARTICIPANT_RECONNECTED: _reconnected,
    ev.PARTICIPANT_RECONNECTING: _reconnecting,
    ev.PARTICIPANT_DISCONNECTED: _gone,
    ev.PARTICIPANT_LEFT: _gone,
    ev.OBSERVER_JOINED: _observed,
    ev.OBSERVER_LEFT: _unobserved,
    ev.ROUND_CREATED: _round_created,
    ev.ROUND_STARTED: _round_moved,
    ev.ROUND_ADVANCED: _round_moved,
    ev.ROUND_COMPLETED: _round_moved,
    ev.ROUND_ABORTED: _round_moved,
    **{t: _turn_handler(t) for t in _AUDIT},
}
del _turn_event
