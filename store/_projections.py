"""Keep the seeds' tables in step with the log, inside the append's transaction.

The log is the truth; these rows are projections of it that the HTTP routes
read. Each handler is pure: it gets one event (details, actor, timestamp,
sequence number) and returns the row writes (``store/_ops.py``) that the batch
writer runs in the same transaction as the entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson

from protocol import event_types as ev
from store._ops import Insert, Op, Update

Handler = Callable[[str, dict[str, Any], str | None, str, int], list[Op]]
P = "session_participations"


def _ms_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    from protocol import format_timestamp

    return format_timestamp(datetime.fromtimestamp(ms / 1000, tz=UTC))


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def participation_id(sid: str, user_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(sid), f"participant-{user_id}"))


def _joined(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    assert actor is not None
    row = {
        "id": participation_id(sid, actor),
        "session_id": sid,
        "user_id": int(actor),
        "role": d["role"],
        "speaker": d.get("speaker"),
        "status": "connected",
        "joined_at": ts,
        "connection_count": 1,
        "client_info": _json(d.get("client_info")),
        "created_at": ts,
    }
    return [Insert.row(P, row)]


def _participation(sid: str, actor: str | None, values: dict[str, Any]) -> list[Op]:
    assert actor is not None
    return [Update.by(P, "id", participation_id(sid, actor), values)]


def _reconnected(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    values = {"status": "connected", "left_at": None, "connection_count": d["connection_count"]}
    return _participation(sid, actor, values)


def _reconnecting(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    return _participation(sid, actor, {"status": "reconnecting"})


def _gone(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    return _participation(sid, actor, {"status": "disconnected", "left_at": ts})


def _observed(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    users = d["users"]
    return [
        Insert.row(
            "session_observations",
            {
                "id": oid,
                "session_id": sid,
                "user_id": int(users[oid]) if oid in users else None,
                "observed_at": ts,
                "client_info": None,
                "created_at": ts,
            },
        )
        for oid in d["observation_ids"]
    ]


def _unobserved(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    return [
        Update.by("session_observations", "id", oid, {"left_at": ts})
        for oid in d["observation_ids"]
    ]


def _round_created(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    ops: list[Op] = [
        Insert.row(
            "classroom_rounds",
            {
                "id": d["round_id"],
                "session_id": sid,
                "round_index": d["round_index"],
                "round_type": d["round_type"],
                "format": d["format"],
                "status": "PENDING",
                "created_at": ts,
                "updated_at": ts,
            },
        )
    ]
    ops += [
        Insert.row(
            "classroom_turns",
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
                "is_submitted": False,
                "is_late": False,
                "created_at": ts,
                "updated_at": ts,
            },
        )
        for t in d["turns"]
    ]
    return ops


def _round_moved(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
    # Status and the current speaker come from the decision's round rows (see
    # ``_plan``); here only the timestamps the event carries.
    values: dict[str, Any] = {"updated_at": ts}
    if "started_at_ms" in d:
        values["started_at"] = _ms_iso(d["started_at_ms"])
    if "ended_at_ms" in d:
        values["ended_at"] = _ms_iso(d["ended_at_ms"])
    if "reason" in d:
        values["abort_reason"] = d["reason"][:500]
    return [Update.by("classroom_rounds", "id", d["round_id"], values)]


_AUDIT = {
    ev.TURN_STARTED: "START",
    ev.TURN_SUBMITTED: "SUBMIT",
    ev.TURN_AUTO_SUBMITTED: "AUTO_SUBMIT",
    ev.TURN_TIME_EXPIRED: "TIME_EXPIRED",
    ev.TURN_FORCE_SUBMITTED: "OVERRIDE",
}
_ENDED = {
    ev.TURN_SUBMITTED: "submitted",
    ev.TURN_AUTO_SUBMITTED: "auto_submitted",
    ev.TURN_FORCE_SUBMITTED: "force_submitted",
}


def _turn_handler(event_type: str) -> Handler:
    def handle(sid: str, d: dict[str, Any], actor: str | None, ts: str, seq: int) -> list[Op]:
        values: dict[str, Any] = {"updated_at": ts}
        if event_type == ev.TURN_STARTED:
            values.update(status="running", started_at=_ms_iso(d["started_at_ms"]))
        elif event_type == ev.TURN_TIME_EXPIRED:
            values.update(status="expired")
        else:
            values.update(
                status=_ENDED[event_type],
                submitted_at=_ms_iso(d["submitted_at_ms"]),
                transcript=d.get("transcript"),
                word_count=d.get("word_count"),
                is_submitted=True,
                is_late=bool(d.get("late", False)),
            )
        payload = {k: v for k, v in d.items() if k not in ("transcript",)}
        audit = {
            "turn_id": d["turn_id"],
            "action": _AUDIT[event_type],
            "actor_user_id": actor,
            "payload_json": orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
            "sequence_number": seq,
            "created_at": ts,
        }
        return [
            Update.by("classroom_turns", "id", d["turn_id"], values),
            Insert.row("classroom_turn_audit", audit),
        ]

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


def projections(
    sid: str, event_type: str, d: dict[str, Any], actor: str | None, ts: str, seq: int
) -> list[Op]:
    handler = HANDLERS.get(event_type)
    return [] if handler is None else handler(sid, d, actor, ts, seq)
