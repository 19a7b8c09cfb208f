"""The round engine (seed 002) on an injected clock: tests drive time, never sleep."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from protocol.errors import (
    Conflict,
    FeatureDisabled,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from server.rules import commands as c, rounds
from server.rules.session import RulesConfig
from server.rules.state import SessionState, Status
from tests.unit.rules_helpers import ANON, FACULTY, P1, P2, R1, R2, RID, Court

SPEAKERS = {"11": P1, "12": P2, "21": R1, "22": R2}


def ready(config: RulesConfig | None = None, seconds: int = 60, **kw: Any) -> Court:
    court = Court(config=config or RulesConfig())
    court.seat_speakers()
    court.do(c.Start())
    court.do(c.CreateRound(round_id=RID, default_turn_seconds=seconds, **kw))
    court.do(c.StartRound(RID))
    return court


def current(court: Court) -> Any:
    r = court.state.rounds[RID]
    return r.current


def test_seed_order_is_the_default() -> None:
    court = ready()
    turns = court.state.rounds[RID].turns
    assert [(t.side, t.speaker) for t in turns] == [
        ("petitioner", 1),
        ("respondent", 1),
        ("petitioner", 2),
        ("respondent", 2),
    ]
    assert all(t.allowed_ms == 60_000 for t in turns)
    assert current(court).participant_id == "11"


def test_moot_preset_reserves_rebuttal_from_the_opening_speaker() -> None:
    court = Court()
    court.seat_speakers()
    court.do(c.CreateRound(round_id=RID, format_name="moot_standard"))
    turns = court.state.rounds[RID].turns
    assert [(t.side, t.speaker, t.kind, t.allowed_ms // 1000) for t in turns] == [
        ("petitioner", 1, "main", 720),
        ("petitioner", 2, "main", 900),
        ("respondent", 1, "main", 900),
        ("respondent", 2, "main", 900),
        ("petitioner", 1, "rebuttal", 180),
    ]
    assert turns[0].warnings_ms == [300_000, 120_000, 60_000, 30_000]
    assert turns[-1].warnings_ms == [120_000, 60_000, 30_000]
    created = court.details("ROUND_CREATED")[0]
    assert (
        created["format"] == "moot_standard" and created["format_spec"]["name"] == "moot_standard"
    )


def test_full_round_by_submissions() -> None:
    court = ready()
    for uid in ["11", "21", "12", "22"]:
        t = current(court)
        assert t.participant_id == uid
        court.do(c.StartTurn(t.turn_id), SPEAKERS[uid])
        court.advance(10_000)
        events = court.do(c.SubmitTurn(t.turn_id, "may it please the court", None), SPEAKERS[uid])
        assert events[0] == "TURN_SUBMITTED"
    assert events[-1] == "ROUND_COMPLETED"
    r = court.state.rounds[RID]
    assert r.status == "COMPLETED" and r.current_turn_id is None
    assert [t.status for t in r.turns] == ["submitted"] * 4
    assert court.details("TURN_SUBMITTED")[0]["word_count"] == 5
    assert court.replayed().to_dict() == court.state.to_dict()


def test_only_the_current_speaker_acts() -> None:
    court = ready()
    t = current(court)
    with pytest.raises(Conflict, match="Not current speaker"):
        court.do(c.StartTurn(t.turn_id), R1)
    later = court.state.rounds[RID].turns[1]
    with pytest.raises(Conflict, match="Not current speaker"):
        court.do(c.StartTurn(later.turn_id), R1)
    court.do(c.StartTurn(t.turn_id), P1)
    with pytest.raises(Conflict, match="Not current speaker"):
        court.do(c.SubmitTurn(t.turn_id, "x"), FACULTY)  # faculty force-submits instead
    with pytest.raises(Conflict, match="already running"):
        court.do(c.StartTurn(t.turn_id), P1)
    with pytest.raises(NotFound, match="Turn not found"):
        court.do(c.StartTurn("nope"), P1)
    with pytest.raises(NotFound, match="Round not found"):
        court.do(c.StartRound("nope"))


def test_faculty_may_start_a_turn_for_the_speaker() -> None:
    court = ready()
    assert court.do(c.StartTurn(current(court).turn_id), FACULTY) == ["TURN_STARTED"]


def test_expiry_auto_submits_and_advances_exactly_once() -> None:
    court = ready(seconds=30)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    deadline = current(court).deadline_ms  # ``do`` replaces the state: fetch again
    assert rounds.next_action_ms(court.state) == deadline
    court.advance(30_000 + 750)  # the runner woke late
    events = court.do(c.TimerDue())
    assert events == ["TURN_TIME_EXPIRED", "TURN_AUTO_SUBMITTED", "ROUND_ADVANCED"]
    exp = court.details("TURN_TIME_EXPIRED")[0]
    assert exp["expired_at_ms"] == deadline and exp["detected_at_ms"] == deadline + 750
    assert court.do(c.TimerDue()) == []  # a second wake-up changes nothing
    assert court.state.rounds[RID].turns[0].status == "auto_submitted"
    assert current(court).participant_id == "21"


def test_expiry_without_auto_submit_closes_the_turn() -> None:
    court = ready(RulesConfig(auto_submit_on_timeout=False), seconds=10)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    court.advance(10_000)
    assert court.do(c.TimerDue()) == ["TURN_TIME_EXPIRED", "ROUND_ADVANCED"]
    assert court.state.rounds[RID].turns[0].status == "closed"


def test_late_submission_waits_and_is_marked_late() -> None:
    court = ready(RulesConfig(allow_late_submission=True), seconds=10)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    court.advance(12_000)
    assert court.do(c.TimerDue()) == ["TURN_TIME_EXPIRED"]
    assert rounds.next_action_ms(court.state) is None
    court.advance(3_000)
    assert court.do(c.SubmitTurn(t.turn_id, "late words"), P1) == [
        "TURN_SUBMITTED",
        "ROUND_ADVANCED",
    ]
    assert court.details("TURN_SUBMITTED")[0]["late"] is True
    assert court.state.rounds[RID].turns[0].late


def test_submit_racing_the_deadline_is_judged_after_the_expiry() -> None:
    court = ready(seconds=10)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    court.advance(10_001)
    # The expiry is caught up inside the same decision: then the submit is refused,
    # so the turn is never both auto-submitted and submitted.
    with pytest.raises(Conflict):
        court.do(c.SubmitTurn(t.turn_id, "too late"), P1)
    assert court.do(c.TimerDue()) == ["TURN_TIME_EXPIRED", "TURN_AUTO_SUBMITTED", "ROUND_ADVANCED"]


def test_submit_just_before_the_deadline_wins() -> None:
    court = ready(seconds=10)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    court.advance(9_999)
    assert court.do(c.SubmitTurn(t.turn_id, "in time"), P1)[0] == "TURN_SUBMITTED"
    court.advance(10)
    assert court.do(c.TimerDue()) == []
    assert court.details("TURN_SUBMITTED")[0]["remaining_ms"] == 1


def test_pause_freezes_the_clock_to_the_millisecond() -> None:
    court = ready(seconds=60)
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    court.advance(12_345)
    court.do(c.Pause())
    assert court.details("SESSION_PAUSED")[0]["remaining_ms"] == 47_655
    assert rounds.next_action_ms(court.state) is None
    court.advance(3_600_000)  # an hour's pause costs nothing
    assert court.do(c.TimerDue()) == []
    with pytest.raises(InvalidTransition):
        court.do(c.SubmitTurn(t.turn_id, "x"), P1)  # nothing moves while paused
    court.do(c.Resume())
    resumed = court.details("SESSION_RESUMED")[0]
    assert resumed["deadline_ms"] == court.now + 47_655
    assert current(court).deadline_ms == court.now + 47_655
    with pytest.raises(Conflict, match="already running"):
        court.do(c.StartTurn(t.turn_id), P1)
    assert court.replayed().to_dict() == court.state.to_dict()


def test_turn_actions_need_an_active_session() -> None:
    court = ready()
    court.do(c.Pause())
    with pytest.raises(InvalidTransition):
        court.do(c.StartTurn(current(court).turn_id), P1)


def test_warnings_fire_once_each_in_order() -> None:
    court = ready(seconds=200)  # 2:00, 1:00 and 0:30 apply
    t = current(court)
    court.do(c.StartTurn(t.turn_id), P1)
    assert rounds.next_action_ms(court.state) == current(court).deadline_ms - 120_000
    court.advance(80_000)
    assert court.do(c.TimerDue()) == ["TURN_TIME_WARNING"]
    assert court.do(c.TimerDue()) == []
    court.advance(90_000)  # past 1:00 and 0:30 at once (server was busy)
    assert court.do(c.TimerDue()) == ["TURN_TIME_WARNING", "TURN_TIME_WARNING"]
    assert [d["threshold_ms"] for d in court.details("TURN_TIME_WARNING")] == [
        120_000,
        60_000,
        30_000,
    ]
    assert rounds.next_action_ms(court.state) == current(court).deadline_ms


def test_force_submit_and_abort() -> None:
    court = ready()
    t = current(court)
    with pytest.raises(PermissionDenied):
        court.do(c.ForceSubmit(t.turn_id, "", "gone"), P1)
    assert court.do(c.ForceSubmit(t.turn_id, "", "student disconnected"), FACULTY) == [
        "TURN_FORCE_SUBMITTED",
        "ROUND_ADVANCED",
    ]
    with pytest.raises(Conflict):
        court.do(c.ForceSubmit(t.turn_id, "", "again"), FACULTY)
    nxt = current(court)
    court.do(c.StartTurn(nxt.turn_id), R1)
    court.advance(1_000)
    assert court.do(c.AbortRound(RID, "fire alarm"), FACULTY) == ["ROUND_ABORTED"]
    r = court.state.rounds[RID]
    assert r.status == "ABORTED" and rounds.next_action_ms(court.state) is None
    with pytest.raises(InvalidTransition):
        court.do(c.AbortRound(RID, "again"), FACULTY)
    with pytest.raises(Conflict):
        court.do(c.SubmitTurn(nxt.turn_id, "x"), R1)
    assert court.replayed().to_dict() == court.state.to_dict()


def test_completing_the_session_aborts_the_active_round() -> None:
    court = ready()
    court.do(c.StartTurn(current(court).turn_id), P1)
    assert court.do(c.Complete()) == ["ROUND_ABORTED", "SESSION_COMPLETED"]
    assert court.state.status is Status.COMPLETED
    assert rounds.next_action_ms(court.state) is None


def test_round_creation_checks() -> None:
    court = Court()
    court.do(c.Join("petitioner", 1), P1)
    with pytest.raises(ValidationFailed, match="needs petitioner #2"):
        court.do(c.CreateRound(round_id=RID))  # respondents are missing
    with pytest.raises(ValidationFailed, match="round_type"):
        court.do(c.CreateRound(round_id=RID, round_type="DUEL"))
    with pytest.raises(ValidationFailed, match="unknown format"):
        court.do(c.CreateRound(round_id=RID, format_name="chess"))
    with pytest.raises(PermissionDenied):
        court.do(c.CreateRound(round_id=RID), P1)
    with pytest.raises(FeatureDisabled):
        Court(config=RulesConfig(round_engine=False)).do(c.CreateRound(round_id=RID))
    court.do(c.CreateRound(round_id=RID, turns=(c.TurnPlan("11", 90),)))
    with pytest.raises(Conflict, match="round_index 1"):
        court.do(
            c.CreateRound(
                round_id="00000000-0000-4000-8000-0000000000bb",
                round_index=1,
                turns=(c.TurnPlan("11", 5),),
            )
        )
    with pytest.raises(ValidationFailed, match="not a speaker"):
        court.do(
            c.CreateRound(
                round_id="00000000-0000-4000-8000-0000000000cc", turns=(c.TurnPlan("99", 5),)
            )
        )
    with pytest.raises(InvalidTransition, match="active session"):
        court.do(c.StartRound(RID))
    court.do(c.Start())
    court.do(c.StartRound(RID))
    other = "00000000-0000-4000-8000-0000000000dd"
    court.do(c.CreateRound(round_id=other, turns=(c.TurnPlan("11", 5),)))
    with pytest.raises(Conflict, match="still active"):
        court.do(c.StartRound(other))


def test_custom_format_spec() -> None:
    court = Court()
    court.seat_speakers()
    spec = {
        "name": "sprint",
        "turns": [
            {"side": "respondent", "speaker": 1, "seconds": 45},
            {"side": "petitioner", "speaker": 1, "seconds": 45},
        ],
    }
    court.do(c.CreateRound(round_id=RID, format_spec=spec))
    assert [t.participant_id for t in court.state.rounds[RID].turns] == ["21", "11"]
    with pytest.raises(ValidationFailed):
        court.do(
            c.CreateRound(
                round_id="00000000-0000-4000-8000-0000000000ee",
                format_spec={"name": "x", "turns": [{"side": "jury"}]},
            )
        )


def test_anonymous_cannot_touch_rounds() -> None:
    court = ready()
    with pytest.raises(PermissionDenied):
        court.do(c.AbortRound(RID, "x"), ANON)


# --- properties over random command sequences -------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["start", "pause", "resume", "submit", "expire", "force", "abort", "wait"]),
        st.integers(0, 40_000),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, late=st.booleans(), auto=st.booleans())
def test_random_sequences_keep_the_invariants(
    ops: list[tuple[str, int]], late: bool, auto: bool
) -> None:
    court = ready(RulesConfig(allow_late_submission=late, auto_submit_on_timeout=auto), seconds=30)
    for op, ms in ops:
        court.advance(ms)
        r = court.state.rounds[RID]
        t = r.current
        frozen = None
        if court.state.status is Status.PAUSED and t is not None:
            frozen = t.remaining_ms
        try:
            if op == "start" and t is not None:
                court.do(c.StartTurn(t.turn_id), SPEAKERS[t.participant_id])
            elif op == "pause":
                court.do(c.Pause())
            elif op == "resume":
                court.do(c.Resume())
            elif op == "submit" and t is not None:
                court.do(c.SubmitTurn(t.turn_id, "w"), SPEAKERS[t.participant_id])
            elif op == "expire":
                court.do(c.TimerDue())
            elif op == "force" and t is not None:
                court.do(c.ForceSubmit(t.turn_id, "", "r"), FACULTY)
            elif op == "abort":
                court.do(c.AbortRound(RID, "r"), FACULTY)
        except (Conflict, InvalidTransition):
            pass
        for turn in court.state.rounds[RID].turns:
            assert turn.remaining_ms >= 0
            if turn.deadline_ms is not None:
                assert turn.status == "running"
        # The writer hands this object to the next command instead of the stored
        # text (``store._plan.Memos``): the two must be the same state.
        stored = orjson.dumps(court.state.to_dict())
        assert SessionState.from_dict(orjson.loads(stored)) == court.state
        assert orjson.dumps(court.state) == stored  # what the writer stores
        t2 = court.state.rounds[RID].current
        if frozen is not None and court.state.status is Status.PAUSED and t2 is t:
            assert t2 is not None and t2.remaining_ms == frozen  # never decreases while paused
    # Every turn ended at most once, and by exactly one ending.
    endings: dict[str, int] = {}
    for e, _ in court.log:
        if e.event_type in ("TURN_SUBMITTED", "TURN_AUTO_SUBMITTED", "TURN_FORCE_SUBMITTED"):
            endings[e.details["turn_id"]] = endings.get(e.details["turn_id"], 0) + 1
    assert all(n == 1 for n in endings.values())
    expiries = [e.details["turn_id"] for e, _ in court.log if e.event_type == "TURN_TIME_EXPIRED"]
    assert len(expiries) == len(set(expiries))
    # The log replays to the same state.
    assert court.replayed().to_dict() == court.state.to_dict()
