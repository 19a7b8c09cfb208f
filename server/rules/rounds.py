"""The round engine: timed speaking turns on the server's clock (seed 002, Phase 3).

A running turn is a deadline in the state, never a sleeping task. The server's
timer runner asks :func:`next_action_ms` when to wake and then sends
``TimerDue``; :func:`timer_due` logs the warnings that are due and the expiry
(with its true time, the deadline, even when the server was down past it).
A turn ends exactly once because every ending is decided against the state
under the session's lock, and an ended turn is no longer ``running``.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import (
    Conflict,
    FeatureDisabled,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from server.rules import events as ev
from server.rules.commands import (
    AbortRound,
    CreateRound,
    ForceSubmit,
    StartRound,
    StartTurn,
    SubmitTurn,
    TimerDue,
)
from server.rules.events import NewEvent
from server.rules.round_evolve import locate_turn
from server.rules.round_plan import plan_turns
from server.rules.state import Actor, RoundState, SessionState, Status, TurnState

ROUND_TYPES = ("PETITIONER_MAIN", "RESPONDENT_MAIN", "REBUTTAL", "OTHER")
TURN_ENDED = ("submitted", "auto_submitted", "force_submitted", "closed")


def _require_control(actor: Actor, what: str) -> None:
    if not actor.may_control:
        raise PermissionDenied(f"{what} needs an admin, judge or faculty account")


def _round(state: SessionState, round_id: str) -> RoundState:
    r = state.rounds.get(round_id)
    if r is None:
        raise NotFound("Round not found")
    return r


def create_round(
    state: SessionState, cmd: CreateRound, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    _require_control(actor, "creating a round")
    if not config.round_engine:
        raise FeatureDisabled("the round engine is disabled (FEATURE_CLASSROOM_ROUND_ENGINE)")
    if cmd.round_type not in ROUND_TYPES:
        raise ValidationFailed(f"round_type must be one of {', '.join(ROUND_TYPES)}")
    index = cmd.round_index
    if index is None:
        index = max((r.round_index for r in state.rounds.values()), default=0) + 1
    if index < 1:
        raise ValidationFailed("round_index must be 1 or more")
    if any(r.round_index == index for r in state.rounds.values()):
        raise Conflict(f"round_index {index} already exists in this session")
    if cmd.default_turn_seconds is not None and not 1 <= cmd.default_turn_seconds <= 24 * 3600:
        raise ValidationFailed("default_turn_seconds must be between 1 and 86400")
    fmt_name, fmt_spec, turns = plan_turns(state, cmd)
    if not turns:
        raise ValidationFailed("a round needs at least one turn")
    return [
        NewEvent(
            ev.ROUND_CREATED,
            {
                "round_id": cmd.round_id,
                "round_index": index,
                "round_type": cmd.round_type,
                "format": fmt_name,
                "format_spec": fmt_spec,
                "turns": turns,
            },
            actor.user_id,
        )
    ]


def start_round(
    state: SessionState, cmd: StartRound, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    _require_control(actor, "starting a round")
    r = _round(state, cmd.round_id)
    if state.status is not Status.ACTIVE:
        raise InvalidTransition(
            f"rounds start in an active session, not a {state.status.value} one"
        )
    if r.status != "PENDING":
        raise InvalidTransition(f"cannot start a round that is {r.status}")
    other = state.active_round()
    if other is not None:
        raise Conflict(f"round {other.round_index} is still active")
    first = min(r.turns, key=lambda t: t.order)
    return [
        NewEvent(
            ev.ROUND_STARTED,
            {"round_id": r.round_id, "current_turn_id": first.turn_id, "started_at_ms": now_ms},
            actor.user_id,
        )
    ]


def abort_round(
    state: SessionState, cmd: AbortRound, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    _require_control(actor, "aborting a round")
    r = _round(state, cmd.round_id)
    if r.status not in ("PENDING", "ACTIVE"):
        raise InvalidTransition(f"cannot abort a round that is {r.status}")
    return [_abort_event(r, actor, cmd.reason, now_ms)]


def _abort_event(r: RoundState, actor: Actor, reason: str, now_ms: int) -> NewEvent:
    t = r.current
    details: dict[str, Any] = {"round_id": r.round_id, "reason": reason, "ended_at_ms": now_ms}
    if t is not None and t.status == "running" and t.deadline_ms is not None:
        details["turn_id"] = t.turn_id
        details["remaining_ms"] = max(0, t.deadline_ms - now_ms)
    return NewEvent(ev.ROUND_ABORTED, details, actor.user_id)


def abort_active(state: SessionState, actor: Actor, reason: str, now_ms: int) -> list[NewEvent]:
    r = state.active_round()
    return [] if r is None else [_abort_event(r, actor, reason, now_ms)]


def _current(state: SessionState, turn_id: str) -> tuple[RoundState, TurnState]:
    r, t = locate_turn(state, turn_id)
    if r.status != "ACTIVE":
        raise Conflict(f"the round is {r.status}")
    if r.current_turn_id != turn_id:
        raise Conflict("Not current speaker: this is not the current turn")
    return r, t


def start_turn(
    state: SessionState, cmd: StartTurn, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    r, t = _current(state, cmd.turn_id)
    if actor.user_id != t.participant_id and not actor.may_control:
        raise Conflict("Not current speaker: this turn belongs to another speaker")
    if state.status is not Status.ACTIVE:
        raise InvalidTransition(f"turns start in an active session, not a {state.status.value} one")
    if t.status != "pending":
        raise Conflict(f"the turn is already {t.status}")
    return [
        NewEvent(
            ev.TURN_STARTED,
            {
                "turn_id": t.turn_id,
                "round_id": r.round_id,
                "participant_id": t.participant_id,
                "allowed_ms": t.allowed_ms,
                "started_at_ms": now_ms,
                "deadline_ms": now_ms + t.remaining_ms,
            },
            actor.user_id,
        )
    ]


def _word_count(transcript: str, given: int | None) -> int:
    return given if given is not None else len(transcript.split())


def _advance(r: RoundState, after: TurnState, actor_id: str | None, now_ms: int) -> NewEvent:
    later = sorted((t for t in r.turns if t.order > after.order), key=lambda t: t.order)
    if not later:
        return NewEvent(
            ev.ROUND_COMPLETED, {"round_id": r.round_id, "ended_at_ms": now_ms}, actor_id
        )
    return NewEvent(
        ev.ROUND_ADVANCED,
        {
            "round_id": r.round_id,
            "from_turn_id": after.turn_id,
            "current_turn_id": later[0].turn_id,
        },
        actor_id,
    )


def submit_turn(
    state: SessionState, cmd: SubmitTurn, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    r, t = _current(state, cmd.turn_id)
    if actor.user_id != t.participant_id:
        raise Conflict("Not current speaker: only the speaker submits their turn")
    late = False
    if t.status == "expired":
        if not config.allow_late_submission:
            raise Conflict("time expired and late submissions are not allowed")
        late = True
    elif t.status != "running":
        raise Conflict(f"the turn is {t.status}, not running")
    if state.status is not Status.ACTIVE:
        raise InvalidTransition(f"cannot submit in a {state.status.value} session")
    remaining = 0 if t.deadline_ms is None else max(0, t.deadline_ms - now_ms)
    return [
        NewEvent(
            ev.TURN_SUBMITTED,
            {
                "turn_id": t.turn_id,
                "round_id": r.round_id,
                "transcript": cmd.transcript,
                "word_count": _word_count(cmd.transcript, cmd.word_count),
                "late": late,
                "remaining_ms": remaining,
                "submitted_at_ms": now_ms,
            },
            actor.user_id,
        ),
        _advance(r, t, actor.user_id, now_ms),
    ]


def force_submit(
    state: SessionState, cmd: ForceSubmit, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    _require_control(actor, "force submit")
    r, t = _current(state, cmd.turn_id)
    if t.status in TURN_ENDED:
        raise Conflict(f"the turn is already {t.status}")
    return [
        NewEvent(
            ev.TURN_FORCE_SUBMITTED,
            {
                "turn_id": t.turn_id,
                "round_id": r.round_id,
                "transcript": cmd.transcript,
                "word_count": _word_count(cmd.transcript, cmd.word_count),
                "reason": cmd.reason,
                "submitted_at_ms": now_ms,
            },
            actor.user_id,
        ),
        _advance(r, t, actor.user_id, now_ms),
    ]


def next_action_ms(state: SessionState) -> int | None:
    """When the server must act next on this session: a warning or the expiry."""
    if state.status is not Status.ACTIVE:
        return None
    t = state.running_turn()
    if t is None or t.deadline_ms is None:
        return None
    due = [t.deadline_ms - w for w in t.warnings_ms if w not in t.warnings_fired]
    return min([t.deadline_ms, *due])


def timer_due(
    state: SessionState, cmd: TimerDue, actor: Actor, now_ms: int, config: Any
) -> list[NewEvent]:
    """Warnings and expiry that are due at ``now_ms``; nothing if none is (a late or
    duplicate wake-up is harmless, which is what makes expiry exactly-once)."""
    t = state.running_turn()
    r = state.active_round()
    if t is None or r is None or t.deadline_ms is None or state.status is not Status.ACTIVE:
        return []
    out: list[NewEvent] = []
    for w in sorted(t.warnings_ms, reverse=True):
        if w not in t.warnings_fired and t.deadline_ms - w <= now_ms and w < t.allowed_ms:
            out.append(
                NewEvent(
                    ev.TURN_TIME_WARNING,
                    {
                        "turn_id": t.turn_id,
                        "round_id": r.round_id,
                        "threshold_ms": w,
                        "at_ms": t.deadline_ms - w,
                    },
                    None,
                )
            )
    if t.deadline_ms > now_ms:
        return out
    out.append(
        NewEvent(
            ev.TURN_TIME_EXPIRED,
            {
                "turn_id": t.turn_id,
                "round_id": r.round_id,
                "deadline_ms": t.deadline_ms,
                "expired_at_ms": t.deadline_ms,
                "detected_at_ms": now_ms,
                "awaiting_late_submission": bool(config.allow_late_submission),
            },
            None,
        )
    )
    if config.allow_late_submission:
        return out
    if config.auto_submit_on_timeout:
        out.append(
            NewEvent(
                ev.TURN_AUTO_SUBMITTED,
                {
                    "turn_id": t.turn_id,
                    "round_id": r.round_id,
                    "transcript": "",
                    "word_count": 0,
                    "submitted_at_ms": now_ms,
                },
                None,
            )
        )
    out.append(_advance(r, t, None, now_ms))
    return out


# --- pause and resume freeze and thaw the running turn -----------------------


def freeze_details(state: SessionState, now_ms: int) -> dict[str, Any]:
    t = state.running_turn()
    if t is None or t.deadline_ms is None:
        return {}
    return {"turn_id": t.turn_id, "remaining_ms": max(0, t.deadline_ms - now_ms)}


def thaw_details(state: SessionState, now_ms: int) -> dict[str, Any]:
    r = state.active_round()
    t = r.current if r is not None else None
    if t is None or t.status != "running":
        return {}
    return {
        "turn_id": t.turn_id,
        "remaining_ms": t.remaining_ms,
        "deadline_ms": now_ms + t.remaining_ms,
    }
