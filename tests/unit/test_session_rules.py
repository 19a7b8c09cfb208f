"""The session state machine (seed 000): transitions, roles, presence, the closed record."""

from __future__ import annotations

import pytest

from protocol.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from server.rules import commands as c
from server.rules.session import TRANSITIONS, changes_state
from server.rules.state import Presence, Status
from tests.unit.rules_helpers import ADMIN, ANON, FACULTY, JUDGE, P1, P2, STRANGER, Court


def test_transition_table_is_the_seeds() -> None:
    assert TRANSITIONS[Status.PENDING] == {c.Start: Status.ACTIVE}
    assert TRANSITIONS[Status.ACTIVE] == {c.Pause: Status.PAUSED, c.Complete: Status.COMPLETED}
    assert TRANSITIONS[Status.PAUSED] == {c.Resume: Status.ACTIVE, c.Complete: Status.COMPLETED}
    assert TRANSITIONS[Status.COMPLETED] == {}


def test_happy_path() -> None:
    court = Court()
    assert court.do(c.Start()) == ["SESSION_STARTED"]
    assert court.do(c.Pause()) == ["SESSION_PAUSED"]
    assert court.do(c.Resume()) == ["SESSION_RESUMED"]
    assert court.do(c.Complete()) == ["SESSION_COMPLETED"]
    assert court.state.status is Status.COMPLETED
    assert court.replayed().to_dict() == court.state.to_dict()


@pytest.mark.parametrize(
    "path,illegal",
    [
        ([], c.Pause()),
        ([], c.Resume()),
        ([], c.Complete()),  # PENDING cannot complete
        ([c.Start()], c.Start()),
        ([c.Start()], c.Resume()),
        ([c.Start(), c.Pause()], c.Pause()),
        ([c.Start(), c.Pause()], c.Start()),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(path: list[object], illegal: object) -> None:
    court = Court()
    for cmd in path:
        court.do(cmd)
    with pytest.raises(InvalidTransition):
        court.do(illegal)


@pytest.mark.parametrize(
    "cmd,actor",
    [
        (c.Start(), P1),
        (c.Join("petitioner", 1), P1),
        (c.Observe((c.Observation("o1", None),)), ANON),
        (c.LogCustom("NOTE", {}), JUDGE),
        (c.Leave(), P1),
    ],
)
def test_completed_refuses_every_write(cmd: object, actor: object) -> None:
    court = Court()
    court.do(c.Join("petitioner", 1), P1)
    court.do(c.Start())
    court.do(c.Complete())
    with pytest.raises(InvalidTransition, match="completed"):
        court.do(cmd, actor)  # type: ignore[arg-type]


@pytest.mark.parametrize("actor", [JUDGE, FACULTY, ADMIN])
def test_control_roles_may_run_a_session(actor: object) -> None:
    assert Court().do(c.Start(), actor) == ["SESSION_STARTED"]  # type: ignore[arg-type]


@pytest.mark.parametrize("actor", [P1, ANON])
def test_students_and_anonymous_may_not(actor: object) -> None:
    with pytest.raises(PermissionDenied):
        Court().do(c.Start(), actor)  # type: ignore[arg-type]


def test_join_reconnect_disconnect_leave() -> None:
    court = Court()
    assert court.do(c.Join("petitioner", 1), P1) == ["PARTICIPANT_JOINED"]
    p = court.state.participants["11"]
    assert (p.role, p.speaker, p.status, p.connection_count) == (
        "petitioner",
        1,
        Presence.CONNECTED,
        1,
    )
    assert court.do(c.Disconnect("11"), P1) == ["PARTICIPANT_DISCONNECTED"]  # no grace
    assert court.state.participants["11"].status is Presence.DISCONNECTED
    assert court.state.participants["11"].left_at_ms == court.now
    assert court.do(c.Disconnect("11"), P1) == []  # already gone: nothing to log
    court.advance(5)
    assert court.do(c.Join("petitioner", 1), P1) == ["PARTICIPANT_RECONNECTED"]
    assert court.state.participants["11"].connection_count == 2
    assert court.state.participants["11"].left_at_ms is None
    assert court.do(c.Leave(), P1) == ["PARTICIPANT_LEFT"]
    assert court.replayed().to_dict() == court.state.to_dict()


def test_seats_and_roles_are_checked() -> None:
    court = Court()
    court.do(c.Join("petitioner", 1), P1)
    with pytest.raises(Conflict, match="taken"):
        court.do(c.Join("petitioner", 1), P2)
    with pytest.raises(Conflict, match="already in this session"):
        court.do(c.Join("respondent", 1), P1)
    with pytest.raises(PermissionDenied, match="judge"):
        court.do(c.Join("judge"), P2)
    with pytest.raises(ValidationFailed):
        court.do(c.Join("king"), P2)
    with pytest.raises(PermissionDenied):
        court.do(c.Join("petitioner", 2), ANON)
    assert court.do(c.Join("judge"), JUDGE) == ["PARTICIPANT_JOINED"]
    assert court.state.participants["1"].speaker is None


def test_leave_without_joining() -> None:
    with pytest.raises(NotFound):
        Court().do(c.Leave(), STRANGER)


def test_observers_count_and_batches() -> None:
    court = Court()
    court.do(c.Observe((c.Observation("a", None),)), ANON)
    court.do(
        c.Observe((c.Observation("b", "11"), c.Observation("x", None), c.Observation("y", None)))
    )
    court.do(c.Unobserve(("a", "x")))
    assert (court.state.observers_now, court.state.observers_total) == (2, 4)
    assert court.details("OBSERVER_JOINED") == [
        {"count": 1, "anonymous": 1, "observation_ids": ["a"], "users": {}},
        {"count": 3, "anonymous": 2, "observation_ids": ["b", "x", "y"], "users": {"b": "11"}},
    ]
    assert court.details("OBSERVER_LEFT") == [{"count": 2, "observation_ids": ["a", "x"]}]
    assert court.do(c.Observe(())) == [] and court.do(c.Unobserve(())) == []
    assert court.replayed().to_dict() == court.state.to_dict()


def test_anonymous_observers_can_be_refused() -> None:
    from server.rules.session import create, evolve, initial_state

    court = Court()
    first = create(c.CreateSession(session_id="s", allow_anonymous_observers=False), JUDGE, 0)
    court.state = initial_state("s", first.details, 0)
    evolve(court.state, first.event_type, first.details, first.actor_id, 0)
    with pytest.raises(PermissionDenied, match="anonymous"):
        court.do(c.Observe((c.Observation("y", "11"), c.Observation("x", None))))
    assert court.do(c.Observe((c.Observation("y", "11"),)), P1) == ["OBSERVER_JOINED"]


def test_custom_events() -> None:
    court = Court()
    assert court.do(c.LogCustom("OBJECTION_SUSTAINED", {"by": "judge"})) == ["OBJECTION_SUSTAINED"]
    with pytest.raises(ValidationFailed, match="server only"):
        court.do(c.LogCustom("SESSION_COMPLETED", {}))
    with pytest.raises(PermissionDenied):
        court.do(c.LogCustom("NOTE", {}), P1)
    assert court.replayed().to_dict() == court.state.to_dict()


def test_create_needs_control() -> None:
    from server.rules.session import create

    with pytest.raises(PermissionDenied):
        create(c.CreateSession(session_id="s"), P1, 0)


def test_disconnect_with_grace_then_timer() -> None:
    from server.rules.session import next_action_ms

    court = Court()
    court.do(c.Join("petitioner", 1), P1)
    assert court.do(c.Disconnect("11", still_connected=1, grace_ms=5000), P1) == []
    assert court.do(c.Disconnect("11", still_connected=0, grace_ms=5000), P1) == [
        "PARTICIPANT_RECONNECTING"
    ]
    assert court.state.participants["11"].status is Presence.RECONNECTING
    assert next_action_ms(court.state) == court.now + 5000
    assert court.do(c.Disconnect("11", grace_ms=5000), P1) == []  # already reconnecting
    court.advance(4999)
    assert court.do(c.TimerDue()) == []
    court.advance(1)
    assert court.do(c.TimerDue()) == ["PARTICIPANT_DISCONNECTED"]
    assert next_action_ms(court.state) is None
    assert court.replayed().to_dict() == court.state.to_dict()


def test_reconnect_within_grace_cancels_it() -> None:
    from server.rules.session import next_action_ms

    court = Court()
    court.do(c.Join("petitioner", 1), P1)
    court.do(c.Disconnect("11", grace_ms=5000), P1)
    court.advance(1000)
    assert court.do(c.Join("petitioner", 1), P1) == ["PARTICIPANT_RECONNECTED"]
    assert next_action_ms(court.state) is None
    court.advance(10_000)
    assert court.do(c.TimerDue()) == []
    assert court.state.participants["11"].status is Presence.CONNECTED


def test_to_dict_is_the_plain_form_of_the_state() -> None:
    """The hand-written ``to_dict`` equals ``dataclasses.asdict`` and shares no lists."""
    from dataclasses import asdict

    from server.rules.state import (
        Participant,
        Presence,
        RoundState,
        SessionState,
        TurnState,
    )

    turn = TurnState("t", 0, "11", "petitioner", 1, "main", 60_000, [30_000], warnings_fired=[1])
    state = SessionState(
        "s",
        participants={"11": Participant("11", "petitioner", 1, "P", Presence.CONNECTED, 1, 5)},
        rounds={"r": RoundState("r", 0, "PETITIONER_MAIN", "seed", turns=[turn])},
        expected=[{"user_id": "11"}],
    )
    d = state.to_dict()
    assert d == asdict(state)
    d["rounds"]["r"]["turns"][0]["warnings_fired"].append(2)
    d["expected"][0]["user_id"] = "x"
    assert turn.warnings_fired == [1] and state.expected == [{"user_id": "11"}]
    assert SessionState.from_dict(d).participants == state.participants


def test_changes_state_is_false_exactly_for_events_that_leave_the_state_alone() -> None:
    """The writer keeps the stored text for commands whose events all say False."""
    court = Court()
    for cmd, actor in [
        (c.LogCustom("NOTE", {"x": 1}), JUDGE),
        (c.Join("petitioner", 1), P1),
        (c.Start(), JUDGE),
        (c.LogCustom("OBJECTION", {"by": "respondent"}), JUDGE),
        (c.Pause(), JUDGE),
        (c.Resume(), JUDGE),
        (c.Complete(), JUDGE),
    ]:
        before = court.state.to_dict()
        types = court.do(cmd, actor)
        assert any(changes_state(t) for t in types) == (court.state.to_dict() != before), types
    assert not changes_state("NOTE") and changes_state("SESSION_CREATED")
