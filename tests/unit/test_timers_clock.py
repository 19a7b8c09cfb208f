"""Pure timer arithmetic: clocks, turn clocks, warnings and deadline queues.

No event loop, no sleeping: time is an argument.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import timers
from timers import (
    ClockStateError,
    DeadlineQueue,
    ManualClock,
    TurnClock,
    crossed_warnings,
    next_deadline,
    system_clock,
)

T0 = 1_700_000_000_000  # a plausible epoch-ms "now"


def test_exports() -> None:
    assert sorted(timers.__all__) == sorted(
        [
            "Clock",
            "ClockStateError",
            "DeadlineQueue",
            "ManualClock",
            "RunnerState",
            "TimerRunner",
            "TurnClock",
            "crossed_warnings",
            "next_deadline",
            "system_clock",
        ]
    )
    for name in timers.__all__:
        assert getattr(timers, name).__module__.startswith("timers")


# -- clocks ---------------------------------------------------------------------


def test_system_clock_is_integer_epoch_ms() -> None:
    before = time.time_ns() // 1_000_000
    now = system_clock()
    after = time.time_ns() // 1_000_000
    assert type(now) is int
    assert before <= now <= after


def test_manual_clock_advance_and_set() -> None:
    clock = ManualClock(T0)
    assert clock() == T0
    assert clock.advance(250) == T0 + 250
    assert clock() == T0 + 250
    clock.set(T0 - 1_000)  # wall clocks may step backwards
    assert clock() == T0 - 1_000
    assert repr(clock) == f"ManualClock({T0 - 1_000})"
    assert ManualClock()() == 0


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        pytest.param(lambda c: c.advance(-1), ValueError, id="advance-negative"),
        pytest.param(lambda c: c.advance(1.5), TypeError, id="advance-float"),
        pytest.param(lambda c: c.set(True), TypeError, id="set-bool"),
        pytest.param(
            lambda c: ManualClock(0.0),  # type: ignore[arg-type]
            TypeError,
            id="start-float",
        ),
    ],
)
def test_manual_clock_rejects_bad_input(call: Any, exc: type[Exception]) -> None:
    clock = ManualClock(T0)
    with pytest.raises(exc):
        call(clock)
    assert clock() == T0


# -- TurnClock: examples ---------------------------------------------------------


def test_fresh_clock() -> None:
    c = TurnClock.new(300_000)
    assert (c.allowed_ms, c.remaining_ms, c.deadline_ms, c.started_at_ms) == (
        300_000,
        300_000,
        None,
        None,
    )
    assert not c.running and not c.started and not c.paused
    assert c.remaining(T0) == 300_000
    assert not c.expired(T0)


def test_start_pause_resume_to_the_millisecond() -> None:
    c = TurnClock.new(300_000).start(T0)
    assert c.running and c.started and not c.paused
    assert c.deadline_ms == T0 + 300_000
    assert c.started_at_ms == T0
    assert c.remaining(T0 + 12_345) == 287_655
    assert c.elapsed(T0 + 12_345) == 12_345

    p = c.pause(T0 + 12_345)
    assert p.paused and not p.running
    assert p.remaining_ms == 287_655
    assert p.remaining(T0 + 10**9) == 287_655  # frozen, however long the pause

    r = p.resume(T0 + 60_000)
    assert r.deadline_ms == T0 + 60_000 + 287_655
    assert r.remaining(T0 + 60_000) == 287_655
    assert r.started_at_ms == T0  # the first start is kept
    assert r.remaining(T0 + 60_001) == 287_654


def test_running_past_the_deadline() -> None:
    c = TurnClock.new(1_000).start(T0)
    assert not c.expired(T0 + 999)
    assert c.expired(T0 + 1_000)
    assert c.remaining(T0 + 5_000) == 0
    p = c.pause(T0 + 5_000)  # pausing late freezes at 0, never negative
    assert p.remaining_ms == 0
    assert p.expired(T0 + 5_000)
    assert p.resume(T0 + 9_000).expired(T0 + 9_000)


def test_clock_stepped_backwards_adds_no_time() -> None:
    c = TurnClock.new(10_000).start(T0)
    assert c.remaining(T0 - 5_000) == 10_000
    assert c.pause(T0 - 5_000).remaining_ms == 10_000


@pytest.mark.parametrize(
    ("clock", "op", "message"),
    [
        pytest.param(TurnClock.new(1_000), "pause", "not running", id="pause-fresh"),
        pytest.param(TurnClock.new(1_000), "resume", "never started", id="resume-fresh"),
        pytest.param(TurnClock.new(1_000).start(T0), "start", "already", id="start-twice"),
        pytest.param(TurnClock.new(1_000).start(T0), "resume", "running", id="resume-running"),
        pytest.param(
            TurnClock.new(1_000).start(T0).pause(T0), "pause", "not running", id="pause-paused"
        ),
        pytest.param(
            TurnClock.new(1_000).start(T0).pause(T0), "start", "already", id="start-paused"
        ),
    ],
)
def test_illegal_operations_raise_and_change_nothing(
    clock: TurnClock, op: str, message: str
) -> None:
    before = dataclasses.replace(clock)
    with pytest.raises(ClockStateError, match=message):
        getattr(clock, op)(T0 + 1)
    assert clock == before


def test_clock_state_error_is_a_value_error() -> None:
    assert issubclass(ClockStateError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        pytest.param({"allowed_ms": 0, "remaining_ms": 0}, ClockStateError, id="zero-allowed"),
        pytest.param({"allowed_ms": 10, "remaining_ms": 11}, ClockStateError, id="over"),
        pytest.param(
            {"allowed_ms": 10, "remaining_ms": -1, "started_at_ms": 0},
            ClockStateError,
            id="negative",
        ),
        pytest.param({"allowed_ms": 10, "remaining_ms": 5}, ClockStateError, id="unstarted-used"),
        pytest.param(
            {"allowed_ms": 10, "remaining_ms": 10, "deadline_ms": 5},
            ClockStateError,
            id="deadline-unstarted",
        ),
        pytest.param({"allowed_ms": 10.0, "remaining_ms": 10}, TypeError, id="float-allowed"),
        pytest.param({"allowed_ms": 10, "remaining_ms": True}, TypeError, id="bool-remaining"),
        pytest.param(
            {"allowed_ms": 10, "remaining_ms": 10, "deadline_ms": 1.5, "started_at_ms": 0},
            TypeError,
            id="float-deadline",
        ),
        pytest.param(
            {"allowed_ms": 10, "remaining_ms": 10, "started_at_ms": "0"},
            TypeError,
            id="str-started",
        ),
    ],
)
def test_inconsistent_state_is_rejected(kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        TurnClock(**kwargs)


def test_float_now_cannot_enter_the_state() -> None:
    with pytest.raises(TypeError):
        TurnClock.new(1_000).start(T0 + 0.5)  # type: ignore[arg-type]


def test_rebuilt_from_a_log_round_trips() -> None:
    c = TurnClock.new(90_000).start(T0).pause(T0 + 4_321)
    assert TurnClock(**dataclasses.asdict(c)) == c


# -- TurnClock: properties -------------------------------------------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.just(0)),
        st.tuples(st.just("pause"), st.just(0)),
        st.tuples(st.just("resume"), st.just(0)),
        st.tuples(st.just("advance"), st.integers(0, 200_000)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(allowed=st.integers(1, 600_000), ops=_ops)
def test_clock_matches_a_model_of_consumed_time(allowed: int, ops: list[tuple[str, int]]) -> None:
    """Against a model (time left = allowance - time spent running): remaining is never
    negative, constant while paused, resumes from the frozen remainder to the ms, and
    expired iff remaining is 0."""
    now = T0
    clock = TurnClock.new(allowed)
    consumed = 0
    for op, ms in ops:
        before = clock.remaining(now)
        if op == "advance":
            now += ms
            if clock.running:
                consumed += ms
            else:
                assert clock.remaining(now) == before
        elif op == "start" and not clock.started:
            clock = clock.start(now)
        elif op == "pause" and clock.running:
            clock = clock.pause(now)
            assert clock.remaining_ms == before
        elif op == "resume" and clock.paused:
            frozen = clock.remaining_ms
            clock = clock.resume(now)
            assert clock.remaining(now) == frozen
            assert clock.deadline_ms == now + frozen
        else:
            with pytest.raises(ClockStateError):
                getattr(clock, op)(now)
        remaining = clock.remaining(now)
        assert remaining == max(0, allowed - consumed)
        assert 0 <= remaining <= allowed
        assert clock.expired(now) == (remaining == 0)
        assert type(remaining) is int


@settings(max_examples=200, deadline=None)
@given(
    allowed=st.integers(1, 100_000),
    steps=st.lists(st.integers(-50_000, 50_000), max_size=30),
)
def test_remaining_never_grows_while_running_even_if_the_clock_jumps(
    allowed: int, steps: list[int]
) -> None:
    now = T0
    clock = TurnClock.new(allowed).start(now)
    for step in steps:
        now += step
        assert 0 <= clock.remaining(now) <= allowed
        clock = clock.pause(now).resume(now)
        assert clock.remaining(now) <= allowed


# -- warnings -----------------------------------------------------------------------


def test_crossed_warnings_examples() -> None:
    w = (300_000, 120_000, 60_000, 30_000)
    assert crossed_warnings(w, 600_000, 300_001) == []
    assert crossed_warnings(w, 300_001, 300_000) == [300_000]
    assert crossed_warnings(w, 300_000, 119_999) == [120_000]
    assert crossed_warnings(w, 119_999, 0) == [60_000, 30_000]  # largest first
    assert crossed_warnings(w, 0, 0) == []
    assert crossed_warnings(w, 10_000, 500_000) == []  # remainder went up: nothing
    assert crossed_warnings([60_000, 60_000], 61_000, 59_000) == [60_000]


@settings(max_examples=200, deadline=None)
@given(
    thresholds=st.lists(st.integers(1, 400_000), max_size=6),
    allowed=st.integers(1, 400_000),
    drops=st.lists(st.integers(0, 100_000), max_size=30),
)
def test_each_warning_fires_once(thresholds: list[int], allowed: int, drops: list[int]) -> None:
    fired: list[int] = []
    remaining = allowed
    for drop in drops:
        after = max(0, remaining - drop)
        fired += crossed_warnings(tuple(thresholds), remaining, after)
        remaining = after
    assert sorted(fired) == sorted({t for t in thresholds if remaining <= t < allowed})
    assert fired == sorted(fired, reverse=True)  # in the order time crosses them


# -- deadlines ------------------------------------------------------------------------


def test_next_deadline() -> None:
    assert next_deadline([]) is None
    assert next_deadline([None, None]) is None
    assert next_deadline([None, 5, 3, None, 9]) == 3
    assert next_deadline(iter([7])) == 7


def test_deadline_queue_basics() -> None:
    q: DeadlineQueue[str] = DeadlineQueue()
    assert q.next() is None and len(q) == 0 and q.due(T0) == []
    q.set("b", 200)
    q.set("a", 200)
    q.set("c", 100)
    assert len(q) == 3 and "a" in q and "z" not in q
    assert q.next() == 100
    assert q.items() == [("c", 100), ("a", 200), ("b", 200)]
    assert repr(q) == "DeadlineQueue([('a', 200), ('b', 200), ('c', 100)])"
    q.set("c", 300)  # replaces, does not add
    q.set("c", 300)  # same deadline again: no-op
    assert q.get("c") == 300 and len(q) == 3
    assert q.next() == 200
    assert q.due(199) == []
    assert q.due(250) == ["a", "b"]  # same ms: key order
    assert q.remove("c") is True
    assert q.remove("c") is False
    assert q.next() is None and q.get("c") is None


def test_deadline_queue_key_set_back_to_an_old_deadline_fires_once() -> None:
    q: DeadlineQueue[str] = DeadlineQueue()
    q.set("k", 10)
    q.set("k", 20)
    q.set("k", 10)
    assert q.pop_due(5) is None
    assert q.due(100) == ["k"]
    assert q.next() is None


def test_deadline_queue_compacts_superseded_entries() -> None:
    q: DeadlineQueue[int] = DeadlineQueue()
    for i in range(1_000):
        q.set(1, i)
    assert len(q._heap) <= 64  # internal: superseded entries do not pile up
    assert q.due(10**6) == [1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.sampled_from("abcdef"), st.integers(0, 50)),
            st.tuples(st.just("remove"), st.sampled_from("abcdef"), st.just(0)),
            st.tuples(st.just("due"), st.just(""), st.integers(0, 50)),
        ),
        max_size=80,
    )
)
def test_deadline_queue_matches_a_dict(ops: list[tuple[str, str, int]]) -> None:
    q: DeadlineQueue[str] = DeadlineQueue()
    model: dict[str, int] = {}
    for op, key, ms in ops:
        if op == "set":
            q.set(key, ms)
            model[key] = ms
        elif op == "remove":
            assert q.remove(key) == (model.pop(key, None) is not None)
        else:
            expected = sorted((d, k) for k, d in model.items() if d <= ms)
            assert q.due(ms) == [k for _, k in expected]
            for _, k in expected:
                del model[k]
        assert len(q) == len(model)
        assert q.next() == next_deadline(model.values())
        assert q.items() == sorted(model.items(), key=lambda kv: (kv[1], kv[0]))
