"""The session state machine: ``decide`` turns a command into events, ``evolve`` folds them.

Theory of operation
-------------------

Rule 1: ``decide(state, command, actor, now_ms, config)`` never changes
``state``. It either raises a :class:`protocol.errors.CourtroomError`
(``InvalidTransition`` for an illegal status change, ``Conflict`` for the
right command at the wrong moment, ``PermissionDenied`` for the wrong actor)
or returns the events that the command causes, in order.

Rule 2: ``evolve(state, event_type, details, at_ms)`` applies one committed
event. It trusts the event (the log is the truth) and is the only code that
changes state, so folding the log from ``SESSION_CREATED`` rebuilds the state
byte for byte: the replay the seeds promise.

Rule 3: every number the clock needs (deadlines, frozen remainders, expiry
times) is in the event's details. Replay never consults a clock or a flag.

Status transitions are the table below (the seeds' table: COMPLETED is
terminal, PENDING cannot complete).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import BENCH_ROLES, PARTICIPANT_ROLES
from protocol.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from server.rules import events as ev, round_evolve, rounds
from server.rules.commands import (
    AbortRound as AbortRoundCmd,
    Complete,
    CreateRound,
    CreateSession,
    Disconnect,
    ForceSubmit,
    Join,
    Leave,
    LogCustom,
    Observe,
    Pause,
    Resume,
    SessionCommand,
    Start,
    StartRound,
    StartTurn,
    SubmitTurn,
    TimerDue,
    Unobserve,
)
from server.rules.events import NewEvent
from server.rules.state import SERVER, Actor, Participant, Presence, SessionState, Status

TRANSITIONS: dict[Status, dict[type, Status]] = {
    Status.PENDING: {Start: Status.ACTIVE},
    Status.ACTIVE: {Pause: Status.PAUSED, Complete: Status.COMPLETED},
    Status.PAUSED: {Resume: Status.ACTIVE, Complete: Status.COMPLETED},
    Status.COMPLETED: {},
}

_STATUS_EVENTS: dict[Status, str] = {
    Status.ACTIVE: ev.SESSION_STARTED,
    Status.PAUSED: ev.SESSION_PAUSED,
    Status.COMPLETED: ev.SESSION_COMPLETED,
}


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Feature flags that change decisions (never replay: decisions are in the log)."""

    round_engine: bool = True
    auto_submit_on_timeout: bool = True
    allow_late_submission: bool = False


def create(cmd: CreateSession, actor: Actor, now_ms: int) -> NewEvent:
    """The first entry of every log."""
    if not actor.may_control:
        raise PermissionDenied("creating a session needs an admin, judge or faculty account")
    return NewEvent(
        ev.SESSION_CREATED,
        {
            "session_id": cmd.session_id,
            "assignment_id": cmd.assignment_id,
            "title": cmd.title,
            "allow_anonymous_observers": cmd.allow_anonymous_observers,
            "expected": list(cmd.expected),
            "metadata": cmd.metadata,
            "created_at_ms": now_ms,
        },
        actor.user_id,
    )


def _require_control(actor: Actor, what: str) -> None:
    if not actor.may_control:
        raise PermissionDenied(f"{what} needs an admin, judge or faculty account")


# The command handlers, one per command type (``_DISPATCH``), with one signature.


def _transition(
    state: SessionState, cmd: SessionCommand, actor: Actor, now_ms: int, _: RulesConfig
) -> list[NewEvent]:
    _require_control(actor, f"{type(cmd).__name__.lower()} of a session")
    target = TRANSITIONS[state.status].get(type(cmd))
    if target is None:
        raise InvalidTransition(
            f"cannot {type(cmd).__name__.lower()} a session that is {state.status.value}"
        )
    out: list[NewEvent] = []
    base: dict[str, Any] = {"from": state.status.value, "status": target.value}
    if isinstance(cmd, Pause):
        base.update(rounds.freeze_details(state, now_ms))
    elif isinstance(cmd, Resume):
        base.update(rounds.thaw_details(state, now_ms))
        base["paused_ms"] = now_ms - (state.paused_at_ms or now_ms)
        out.append(NewEvent(ev.SESSION_RESUMED, base, actor.user_id))
        return out
    elif isinstance(cmd, Complete):
        out.extend(rounds.abort_active(state, actor, "session completed", now_ms))
    out.append(NewEvent(_STATUS_EVENTS[target], base, actor.user_id))
    return out


def _join(state: SessionState, cmd: Join, actor: Actor, _t: int, _c: RulesConfig) -> list[NewEvent]:
    if actor.user_id is None:
        raise PermissionDenied("joining as a participant needs an account")
    if cmd.role not in PARTICIPANT_ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(PARTICIPANT_ROLES)}")
    if cmd.role in BENCH_ROLES and not actor.may_control:
        raise PermissionDenied(f"the {cmd.role} role needs a judge, faculty or admin account")
    speaker = cmd.speaker if cmd.role in ("petitioner", "respondent") else None
    if cmd.role in ("petitioner", "respondent") and speaker is None:
        speaker = 1
    existing = state.participants.get(actor.user_id)
    if existing is not None and (existing.role != cmd.role or existing.speaker != speaker):
        raise Conflict(
            f"already in this session as {existing.role}"
            + (f" #{existing.speaker}" if existing.speaker else "")
        )
    if existing is None and speaker is not None:
        for p in state.participants.values():
            if p.role == cmd.role and p.speaker == speaker:
                raise Conflict(f"{cmd.role} #{speaker} is taken")
    details: dict[str, Any] = {"role": cmd.role, "speaker": speaker, "name": actor.name or ""}
    if cmd.client_info:
        details["client_info"] = cmd.client_info
    if existing is None:
        return [NewEvent(ev.PARTICIPANT_JOINED, details, actor.user_id)]
    details["connection_count"] = existing.connection_count + 1
    return [NewEvent(ev.PARTICIPANT_RECONNECTED, details, actor.user_id)]


def _leave(state: SessionState, _: Leave, actor: Actor, _t: int, _c: RulesConfig) -> list[NewEvent]:
    uid = actor.user_id
    p = state.participants.get(uid) if uid is not None else None
    if p is None:
        raise NotFound("not a participant of this session")
    return [NewEvent(ev.PARTICIPANT_LEFT, {"role": p.role, "speaker": p.speaker}, uid)]


def _disconnect(
    state: SessionState, cmd: Disconnect, _: Actor, now_ms: int, _c: RulesConfig
) -> list[NewEvent]:
    p = state.participants.get(cmd.user_id)
    if p is None or cmd.still_connected > 0 or p.status is not Presence.CONNECTED:
        return []  # connected elsewhere, or already reconnecting or gone
    if cmd.grace_ms > 0:
        details = {"role": p.role, "speaker": p.speaker, "grace_until_ms": now_ms + cmd.grace_ms}
        return [NewEvent(ev.PARTICIPANT_RECONNECTING, details, cmd.user_id)]
    return [
        NewEvent(ev.PARTICIPANT_DISCONNECTED, {"role": p.role, "speaker": p.speaker}, cmd.user_id)
    ]


def _observe(
    state: SessionState, cmd: Observe, _: Actor, _t: int, _c: RulesConfig
) -> list[NewEvent]:
    obs = cmd.observations
    if not obs:
        return []
    anonymous = sum(1 for o in obs if o.user_id is None)
    if anonymous and not state.allow_anonymous_observers:
        raise PermissionDenied("this session does not admit anonymous observers")
    # Compact on purpose: every entry goes to every observer present, so a join
    # storm's bytes are (ids listed) x (observers); signed-in users are the few.
    details = {
        "count": len(obs),
        "anonymous": anonymous,
        "observation_ids": [o.observation_id for o in obs],
        "users": {o.observation_id: o.user_id for o in obs if o.user_id is not None},
    }
    # One observer: the entry names them; a batch is the server's doing.
    actor = obs[0].user_id if len(obs) == 1 else None
    return [NewEvent(ev.OBSERVER_JOINED, details, actor)]


def _graces_due(state: SessionState, now_ms: int) -> list[NewEvent]:
    return [
        NewEvent(
            ev.PARTICIPANT_DISCONNECTED,
            {"role": p.role, "speaker": p.speaker, "grace_until_ms": p.grace_until_ms},
            p.user_id,
        )
        for p in sorted(state.participants.values(), key=lambda p: p.user_id)
        if p.status is Presence.RECONNECTING
        and p.grace_until_ms is not None
        and p.grace_until_ms <= now_ms
    ]


def next_action_ms(state: SessionState) -> int | None:
    """The next moment the server must act on its own: a clock or a reconnect grace."""
    if state.status is Status.COMPLETED:
        return None
    # A plain loop, no list and ``min``: this runs twice a command.
    soonest = rounds.next_action_ms(state)
    for p in state.participants.values():
        grace = p.grace_until_ms
        if grace is not None and p.status is Presence.RECONNECTING:
            if soonest is None or grace < soonest:
                soonest = grace
    return soonest


def decide(
    state: SessionState,
    cmd: SessionCommand,
    actor: Actor,
    now_ms: int,
    config: RulesConfig = RulesConfig(),
) -> list[NewEvent]:
    """The events ``cmd`` causes; raises a CourtroomError and changes nothing if refused."""
    if state.status is Status.COMPLETED:
        raise InvalidTransition("the session is completed; its record is closed")
    # By the command's exact type: a chain of isinstance checks cost ~4,000
    # instructions for the commonest command (LogCustom came last).
    return _DISPATCH[type(cmd)](state, cmd, actor, now_ms, config)


def _timer_due(
    state: SessionState, cmd: TimerDue, actor: Actor, now_ms: int, config: RulesConfig
) -> list[NewEvent]:
    return _graces_due(state, now_ms) + rounds.timer_due(state, cmd, actor, now_ms, config)


def _unobserve(
    _s: SessionState, cmd: Unobserve, _a: Actor, _t: int, _c: RulesConfig
) -> list[NewEvent]:
    if not cmd.observation_ids:
        return []
    ids = list(cmd.observation_ids)
    return [NewEvent(ev.OBSERVER_LEFT, {"count": len(ids), "observation_ids": ids}, None)]


def _log(
    _s: SessionState, cmd: LogCustom, actor: Actor, _t: int, _c: RulesConfig
) -> list[NewEvent]:
    _require_control(actor, "logging an event")
    if cmd.event_type in ev.RESERVED:
        raise ValidationFailed(f"{cmd.event_type} is written by the server only")
    return [NewEvent(cmd.event_type, cmd.details, actor.user_id)]


def handle(
    state: SessionState,
    cmd: SessionCommand,
    actor: Actor,
    now_ms: int,
    config: RulesConfig = RulesConfig(),
) -> list[NewEvent]:
    """Decide and evolve in one step, catching up on due timers first.

    A deadline that has passed is acted on before the command, so a submit
    racing the deadline is judged after the expiry with the expiry's true time.
    ``state`` is changed in place: pass one you can drop if this raises.
    """
    out: list[NewEvent] = []
    if type(cmd) is not TimerDue:  # not isinstance: a failed one costs more than the rest
        due = next_action_ms(state)
        if due is not None and due <= now_ms:
            for e in decide(state, TimerDue(), SERVER, now_ms, config):
                evolve(state, e.event_type, e.details, e.actor_id, now_ms)
                out.append(e)
    for e in decide(state, cmd, actor, now_ms, config):
        evolve(state, e.event_type, e.details, e.actor_id, now_ms)
        out.append(e)
    return out


_DISPATCH: dict[type, Callable[..., list[NewEvent]]] = {
    Start: _transition,
    Pause: _transition,
    Resume: _transition,
    Complete: _transition,
    Join: _join,
    Leave: _leave,
    Disconnect: _disconnect,
    TimerDue: _timer_due,
    Observe: _observe,
    Unobserve: _unobserve,
    LogCustom: _log,
    CreateRound: rounds.create_round,
    StartRound: rounds.start_round,
    AbortRoundCmd: rounds.abort_round,
    StartTurn: rounds.start_turn,
    SubmitTurn: rounds.submit_turn,
    ForceSubmit: rounds.force_submit,
}


# --- evolve -----------------------------------------------------------------


def initial_state(session_id: str, details: dict[str, Any], at_ms: int) -> SessionState:
    """State after ``SESSION_CREATED``."""
    return SessionState(
        session_id=session_id,
        assignment_id=details.get("assignment_id"),
        created_at_ms=details.get("created_at_ms", at_ms),
        title=details.get("title", ""),
        allow_anonymous_observers=details.get("allow_anonymous_observers", True),
        expected=list(details.get("expected", [])),
    )


def evolve(
    state: SessionState, event_type: str, details: dict[str, Any], actor_id: str | None, at_ms: int
) -> None:
    """Apply one committed event to ``state`` in place (Rule 2)."""
    if event_type == ev.SESSION_CREATED:
        fresh = initial_state(state.session_id, details, at_ms)
        fresh.created_by = actor_id
        for name in SessionState.__slots__:
            setattr(state, name, getattr(fresh, name))
        return
    handler = _EVOLVE.get(event_type)
    if handler is not None:
        handler(state, details, actor_id, at_ms)
    # Custom events change no state: they are the record's annotations.


def _started(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    s.status = Status.ACTIVE
    s.started_at_ms = t


def _paused(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    s.status = Status.PAUSED
    s.paused_at_ms = t
    round_evolve.apply_freeze(s, d)


def _resumed(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    s.status = Status.ACTIVE
    s.paused_at_ms = None
    round_evolve.apply_thaw(s, d)


def _completed(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    s.status = Status.COMPLETED
    s.ended_at_ms = t
    s.paused_at_ms = None


def _joined(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    assert a is not None
    s.participants[a] = Participant(
        user_id=a,
        role=d["role"],
        speaker=d.get("speaker"),
        name=d.get("name", ""),
        status=Presence.CONNECTED,
        connection_count=1,
        joined_at_ms=t,
    )


def _reconnected(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    assert a is not None
    p = s.participants[a]
    p.status = Presence.CONNECTED
    p.connection_count = d.get("connection_count", p.connection_count + 1)
    p.left_at_ms = None
    p.grace_until_ms = None


def _reconnecting(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    assert a is not None
    p = s.participants[a]
    p.status = Presence.RECONNECTING
    p.grace_until_ms = d["grace_until_ms"]


def _gone(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    assert a is not None
    p = s.participants[a]
    p.status = Presence.DISCONNECTED
    p.left_at_ms = t
    p.grace_until_ms = None


def _observer_joined(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    n = int(d.get("count", 1))
    s.observers_now += n
    s.observers_total += n


def _observer_left(s: SessionState, d: dict[str, Any], a: str | None, t: int) -> None:
    s.observers_now = max(0, s.observers_now - int(d.get("count", 1)))


_EVOLVE: dict[str, Callable[[SessionState, dict[str, Any], str | None, int], None]] = {
    ev.SESSION_STARTED: _started,
    ev.SESSION_PAUSED: _paused,
    ev.SESSION_RESUMED: _resumed,
    ev.SESSION_COMPLETED: _completed,
    ev.PARTICIPANT_JOINED: _joined,
    ev.PARTICIPANT_RECONNECTED: _reconnected,
    ev.PARTICIPANT_RECONNECTING: _reconnecting,
    ev.PARTICIPANT_DISCONNECTED: _gone,
    ev.PARTICIPANT_LEFT: _gone,
    ev.OBSERVER_JOINED: _observer_joined,
    ev.OBSERVER_LEFT: _observer_left,
    **round_evolve.EVOLVE,
}


def changes_state(event_type: str) -> bool:
    """Whether applying an event of this type changes the state (custom events do not)."""
    return event_type in _EVOLVE or event_type == ev.SESSION_CREATED
