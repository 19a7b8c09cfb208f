"""The round engine's evolve side: how each round and turn event changes the state.

Apart from the decide side (``server/rules/rounds.py``) as in ``session.py``:
these handlers trust the committed event and never raise on its content, so
folding the log rebuilds the rounds byte for byte. Pause and resume freeze and
thaw the running turn with the details ``rounds`` computed.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import NotFound
from server.rules import events as ev
from server.rules.state import RoundState, SessionState, TurnState


def locate_turn(state: SessionState, turn_id: str) -> tuple[RoundState, TurnState]:
    for r in state.rounds.values():
        t = r.turn(turn_id)
        if t is not None:
            return r, t
    raise NotFound("Turn not found")


def apply_freeze(state: SessionState, d: dict[str, Any]) -> None:
    if "turn_id" in d:
        _, t = locate_turn(state, d["turn_id"])
        t.remaining_ms = d["remaining_ms"]
        t.deadline_ms = None


def apply_thaw(state: SessionState, d: dict[str, Any]) -> None:
    if "turn_id" in d:
        _, t = locate_turn(state, d["turn_id"])
        t.deadline_ms = d["deadline_ms"]


def _created(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    s.rounds[d["round_id"]] = RoundState(
        round_id=d["round_id"],
        round_index=d["round_index"],
        round_type=d["round_type"],
        format_name=d["format"],
        turns=[
            TurnState(
                turn_id=t["turn_id"],
                order=t["order"],
                participant_id=t["participant_id"],
                side=t["side"],
                speaker=t["speaker"],
                kind=t["kind"],
                allowed_ms=t["allowed_ms"],
                warnings_ms=list(t["warnings_ms"]),
                remaining_ms=t["allowed_ms"],
            )
            for t in d["turns"]
        ],
    )


def _round_started(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    r = s.rounds[d["round_id"]]
    r.status = "ACTIVE"
    r.current_turn_id = d["current_turn_id"]
    r.started_at_ms = d.get("started_at_ms", at)


def _end_turn_clock(t: TurnState, at: int) -> None:
    if t.deadline_ms is not None:
        t.remaining_ms = max(0, t.deadline_ms - at)
    t.deadline_ms = None


def _round_ended(status: str) -> Any:
    def apply(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
        r = s.rounds[d["round_id"]]
        t = r.current
        if t is not None and not t.ended and t.status != "expired":
            if t.status == "running" and "remaining_ms" in d:
                t.remaining_ms = d["remaining_ms"]
            t.deadline_ms = None
            if t.status == "running":
                t.status = "closed"
        r.status = status
        r.current_turn_id = None if status != "ACTIVE" else r.current_turn_id
        r.ended_at_ms = d.get("ended_at_ms", at)

    return apply


def _advanced(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    r = s.rounds[d["round_id"]]
    prev = r.turn(d["from_turn_id"])
    if prev is not None and prev.status in ("running", "expired"):
        prev.status = "closed"  # expired and not submitted: the round moved on
    r.current_turn_id = d["current_turn_id"]


def _turn_started(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    _, t = locate_turn(s, d["turn_id"])
    t.status = "running"
    t.started_at_ms = d["started_at_ms"]
    t.deadline_ms = d["deadline_ms"]


def _warning(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    _, t = locate_turn(s, d["turn_id"])
    t.warnings_fired.append(d["threshold_ms"])


def _expired(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
    _, t = locate_turn(s, d["turn_id"])
    t.status = "expired"
    t.remaining_ms = 0
    t.deadline_ms = None
    t.expired_at_ms = d["expired_at_ms"]


def _submitted(status: str) -> Any:
    def apply(s: SessionState, d: dict[str, Any], a: str | None, at: int) -> None:
        _, t = locate_turn(s, d["turn_id"])
        at_ms = d.get("submitted_at_ms", at)
        _end_turn_clock(t, at_ms)
        t.status = status
        t.ended_at_ms = at_ms
        t.word_count = d.get("word_count")
        t.late = bool(d.get("late", False))

    return apply


EVOLVE = {
    ev.ROUND_CREATED: _created,
    ev.ROUND_STARTED: _round_started,
    ev.ROUND_ADVANCED: _advanced,
    ev.ROUND_COMPLETED: _round_ended("COMPLETED"),
    ev.ROUND_ABORTED: _round_ended("ABORTED"),
    ev.TURN_STARTED: _turn_started,
    ev.TURN_TIME_WARNING: _warning,
    ev.TURN_TIME_EXPIRED: _expired,
    ev.TURN_SUBMITTED: _submitted("submitted"),
    ev.TURN_AUTO_SUBMITTED: _submitted("auto_submitted"),
    ev.TURN_FORCE_SUBMITTED: _submitted("force_submitted"),
}
