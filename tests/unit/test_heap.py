"""When the heap is frozen again: after arrivals, and rebuilt only with no clock running."""

from __future__ import annotations

from server.common.heap import Action, FreezePolicy, HeapKeeper


def test_freezes_after_each_burst_of_arrivals() -> None:
    policy = FreezePolicy(grow_ratio=1.2, min_change=200)
    assert policy.decide(150, clocks_running=1) is None  # below the first step
    assert policy.decide(200, clocks_running=1) is Action.FREEZE
    assert policy.decide(390, clocks_running=1) is None  # +190: not yet
    assert policy.decide(400, clocks_running=1) is Action.FREEZE
    assert policy.decide(5000, clocks_running=1) is Action.FREEZE
    assert policy.decide(5900, clocks_running=1) is None  # +18%: not yet
    assert policy.decide(6000, clocks_running=1) is Action.FREEZE


def test_rebuilds_only_when_most_left_and_no_clock_runs() -> None:
    policy = FreezePolicy(min_change=200, frozen_at=5000)
    assert policy.decide(2000, clocks_running=1) is None  # a clock runs: never a full collection
    assert policy.decide(2600, clocks_running=0) is None  # fewer than half left
    assert policy.decide(2400, clocks_running=0) is Action.REBUILD
    assert policy.frozen_at == 2400
    assert policy.decide(2400, clocks_running=0) is None  # once, not on every tick


def test_keeper_applies_the_policy_with_the_collector() -> None:
    calls: list[str] = []

    def collect() -> int:
        calls.append("collect")
        return 0

    keeper = HeapKeeper(
        FreezePolicy(min_change=10),
        freeze=lambda: calls.append("freeze"),
        unfreeze=lambda: calls.append("unfreeze"),
        collect=collect,
    )
    keeper.after_tick(100, 0)
    assert calls == []  # not started: leaves the collector alone
    keeper.start()
    assert calls == ["collect", "freeze"]
    keeper.after_tick(20, 1)
    assert calls[-1] == "freeze"
    calls.clear()
    keeper.after_tick(0, 0)
    assert calls == ["unfreeze", "collect", "freeze"]
    keeper.stop()
    assert calls[-1] == "unfreeze" and not keeper.active


def test_a_real_freeze_moves_objects_out_of_the_collectors_reach() -> None:
    import gc

    keeper = HeapKeeper()
    try:
        keeper.start()
        assert gc.get_freeze_count() > 0
    finally:
        keeper.stop()
    assert gc.get_freeze_count() == 0
