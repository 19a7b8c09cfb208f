"""The batch planner, the writer's pure core: jobs in order, each as if alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from protocol import GENESIS_HASH, ChainVerifier
from protocol.errors import Conflict, InvalidTransition, NotFound
from protocol.merkle import CompactRange, MemoryTree, leaf_hash
from store._entries import LogEntry
from store._plan import (
    Command,
    Connect,
    Create,
    Decision,
    Disconnect,
    Head,
    Job,
    Memos,
    Row,
    TxInfo,
    plan,
)
from store._tree import STORED_LEVEL, NodeRow, grow
from store._tree_state import TreeState, stored_edge

SID = "00000000-0000-4000-8000-000000000001"
OTHER = "00000000-0000-4000-8000-000000000002"


@dataclass(frozen=True)
class Ev:
    event_type: str
    details: dict[str, Any]
    actor_id: str | None = "1"


def note(i: int, *, deadline: int | None = None) -> Any:
    def decide(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        state = orjson.loads(text)
        state["notes"] = state.get("notes", 0) + 1
        return Decision([Ev("NOTE", {"i": i})], state, "active", deadline)

    return decide


def refuse(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
    state = orjson.loads(text)
    state["notes"] = -1  # a refusal must not leak what it changed
    raise InvalidTransition("not now")


def crash(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
    raise ZeroDivisionError("a bug in the rules")


def fresh_row(seq: int = 0, state: dict[str, Any] | None = None) -> Row:
    return Row(seq, GENESIS_HASH, orjson.dumps(state or {}).decode(), None, 0, None)


def test_jobs_of_one_session_chain_in_queue_order() -> None:
    rows = {SID: fresh_row()}
    jobs = [Command(SID, note(i), now=1_000 + i) for i in range(5)]
    p = plan(jobs, rows, {}, set())
    assert [o.head.sequence_number for o in p.outcomes] == [1, 2, 3, 4, 5]
    assert [e[1] for e in p.entries] == [1, 2, 3, 4, 5]
    v = ChainVerifier(SID)
    assert all(v.feed_canonical(*e[:8]) for e in p.entries)
    # One head update per session, carrying the last state.
    ((seq, hash_, state, status, *_rest, sid),) = p.heads
    assert (seq, sid, status) == (5, SID, "active") and hash_ == p.entries[-1][7]
    assert orjson.loads(state) == {"notes": 5}


def test_a_refused_or_crashing_job_fails_alone_and_leaves_nothing() -> None:
    rows = {SID: fresh_row()}
    jobs = [
        Command(SID, note(0), now=1),
        Command(SID, refuse, now=2),
        Command(SID, crash, now=3),
        Command(SID, note(1), now=4),
    ]
    p = plan(jobs, rows, {}, set())
    ok1, refused, crashed, ok2 = p.outcomes
    assert isinstance(refused, InvalidTransition) and isinstance(crashed, ZeroDivisionError)
    assert (ok1.head.sequence_number, ok2.head.sequence_number) == (1, 2)
    assert ok2.entries[0].previous_hash == ok1.entries[0].hash
    assert orjson.loads(p.heads[0][2]) == {"notes": 2}
    assert len(p.entries) == 2


def test_unknown_session_and_stale_fence() -> None:
    rows = {SID: Row(3, "ab" * 32, "{}", "node-b", 7, 99)}
    p = plan(
        [
            Command(OTHER, note(0), now=1),
            Command(SID, note(1), now=2, node="node-a", fence=6),
        ],
        rows,
        {},
        set(),
    )
    missing, fenced = p.outcomes
    assert isinstance(missing, NotFound)
    assert fenced.fenced and fenced.timer_owner == "node-b" and fenced.timer_fence == 7
    assert p.entries == [] and p.heads == []


def test_a_deadline_makes_this_node_the_timer_owner_with_a_new_fence() -> None:
    rows = {SID: Row(1, GENESIS_HASH, "{}", "node-b", 4, 10)}
    p = plan(
        [Command(SID, note(0, deadline=5_000), now=100, node="node-a", lease_ms=50)],
        rows,
        {},
        set(),
    )
    (done,) = p.outcomes
    assert (done.timer_owner, done.timer_fence) == ("node-a", 5)
    head = p.heads[0]
    assert head[4:8] == (5_000, "node-a", 5, 150)  # next_action, owner, fence, lease
    # No deadline: nobody drives the session's clock.
    p2 = plan([Command(SID, note(1), now=200, node="node-a")], rows, {}, set())
    assert p2.heads[0][4:8] == (None, None, 5, None)


def test_live_counts_and_presence_outcomes_reach_the_jobs() -> None:
    seen: list[int | None] = []

    def count(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        state = orjson.loads(text)
        seen.append(info.live_connections)
        return Decision([], state, "active", None)

    rows = {SID: fresh_row(1)}
    jobs: list[Job] = [
        Connect({"id": "c1"}),
        Disconnect("c1"),
        Disconnect("c2"),
        Command(SID, count, now=1, live_user="7"),
        Command(SID, count, now=1),
    ]
    p = plan(jobs, rows, {(SID, "7"): 2}, {"c1"})
    assert p.outcomes[:3] == [None, True, False]
    assert seen == [2, None]
    assert p.heads == []  # nothing to write for decisions without events


def test_create_then_conflict_on_the_same_id() -> None:
    rows: dict[str, Row] = {}
    first = Ev("SESSION_CREATED", {"title": "t"})
    jobs: list[Job] = [
        Create(SID, first, {"status": "pending"}, 1_000, {"title": "t"}),
        Create(SID, first, {"status": "pending"}, 1_000, {"title": "t"}),
        Command(SID, note(0), now=2_000),
    ]
    p = plan(jobs, rows, {}, set())
    created, dup, noted = p.outcomes
    assert created.head.sequence_number == 1 and isinstance(dup, Conflict)
    assert noted.head.sequence_number == 2
    assert len(p.new_sessions) == 1 and [e[1] for e in p.entries] == [1, 2]


@pytest.mark.parametrize("n", [1, 3])
def test_outcomes_line_up_with_jobs(n: int) -> None:
    rows = {SID: fresh_row()}
    jobs: list[Any] = [Command(SID, refuse, now=1) for _ in range(n)]
    assert len(plan(jobs, rows, {}, set()).outcomes) == n


class Counter:
    """A decoded state: the notes counted so far, and whether it was parsed or handed over."""

    def __init__(self, notes: int, parsed: bool) -> None:
        self.notes, self.parsed = notes, parsed


def counting(calls: list[bool], *, refuse_after_change: bool = False) -> Any:
    """A decider that uses the memo when given one and records whether it had to parse."""

    def decide(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        calls.append(memo is None)
        state = memo if memo is not None else Counter(orjson.loads(text).get("notes", 0), True)
        state.notes += 1  # in place, as the rules change their state
        if refuse_after_change:
            raise InvalidTransition("refused after changing the state in place")
        d = {"notes": state.notes}
        return Decision([Ev("NOTE", {"n": state.notes})], d, "active", None, memo=state)

    return decide


def test_the_decoded_state_passes_from_command_to_command_and_batch_to_batch() -> None:
    memos, parsed = Memos(), list[bool]()
    rows = {SID: fresh_row()}
    plan([Command(SID, counting(parsed), now=i) for i in range(3)], rows, {}, set(), memos)
    assert parsed == [True, False, False]  # parsed once, then handed on
    # The next batch reads the row anew (an equal text, another object): the memo still fits.
    rows = {SID: Row(3, rows[SID].head_hash, str(rows[SID].state), None, 0, None)}
    p = plan([Command(SID, counting(parsed), now=9)], rows, {}, set(), memos)
    assert parsed == [True, False, False, False]
    assert orjson.loads(p.heads[0][2]) == {"notes": 4}


def test_a_memo_that_a_refused_command_changed_is_never_used_again() -> None:
    memos, parsed = Memos(), list[bool]()
    rows = {SID: fresh_row()}
    jobs = [
        Command(SID, counting(parsed), now=1),
        Command(SID, counting(parsed, refuse_after_change=True), now=2),
        Command(SID, counting(parsed), now=3),
    ]
    p = plan(jobs, rows, {}, set(), memos)
    assert isinstance(p.outcomes[1], InvalidTransition)
    # The refused command had the memo and changed it: the third parses the text again.
    assert parsed == [True, False, True]
    assert orjson.loads(p.heads[0][2]) == {"notes": 2}


def test_a_memo_is_not_used_when_the_stored_state_differs() -> None:
    """A batch that rolled back, or another node's write: the row's text is not the memo's."""
    memos, parsed = Memos(), list[bool]()
    plan([Command(SID, counting(parsed), now=1)], {SID: fresh_row()}, {}, set(), memos)
    elsewhere = {SID: fresh_row(1, {"notes": 40})}
    p = plan([Command(SID, counting(parsed), now=2)], elsewhere, {}, set(), memos)
    assert parsed == [True, True]
    assert orjson.loads(p.heads[0][2]) == {"notes": 41}


def test_memos_keep_the_most_recent_sessions() -> None:
    memos = Memos(size=2)
    for sid in ("a", "b", "a", "c"):
        memos.put(sid, "{}", object())
    assert len(memos) == 2
    assert memos.take("b", "{}") is None and memos.take("a", "{}") is not None


def test_a_head_is_narrow_unless_a_job_moved_its_status_or_timer() -> None:
    rows = {SID: Row(1, GENESIS_HASH, "{}", None, 0, None, "active", None)}
    p = plan([Command(SID, note(0), now=1), Command(SID, note(1), now=2)], rows, {}, set())
    assert p.moved == [False]  # the same status, no deadline: log, state and tree only
    # A deadline (and with it a timer owner and lease) moves the row, for the whole batch.
    rows = {SID: Row(1, GENESIS_HASH, "{}", None, 0, None, "active", None)}
    jobs = [Command(SID, note(0, deadline=9), now=1, node="n"), Command(SID, note(1), now=2)]
    assert plan(jobs, rows, {}, set()).moved == [True]
    # A status the row did not hold moves it too.
    rows = {SID: Row(1, GENESIS_HASH, "{}", None, 0, None, "paused", None)}
    assert plan([Command(SID, note(0), now=1)], rows, {}, set()).moved == [True]


def test_the_sqlite_dialect_writes_a_narrow_head_with_the_narrow_statement() -> None:
    from store._batch import Dialect

    rows = {
        SID: Row(1, GENESIS_HASH, "{}", None, 0, None, "active", None),
        OTHER: Row(1, GENESIS_HASH, "{}", None, 0, None, "paused", None),
    }
    p = plan([Command(SID, note(0), now=1), Command(OTHER, note(1), now=1)], rows, {}, set())
    steps = Dialect().write_log(p.entries, p.heads, p.moved)
    insert, full, narrow = steps
    assert insert.sql.startswith("INSERT INTO session_log_entries")
    assert "status = ?" in full.sql and [h[-1] for h in full.args] == [OTHER]
    assert "status" not in narrow.sql and "timer" not in narrow.sql
    ((seq, hash_, state, tree_size, tree_edge, sid),) = narrow.args
    assert (seq, sid, orjson.loads(state)) == (2, SID, {"notes": 1})


def test_a_decision_that_changed_no_state_keeps_the_stored_text() -> None:
    """Annotations change no state: the stored text stands and is not serialised again."""
    text = orjson.dumps({"notes": 7}).decode()
    rows = {SID: Row(1, GENESIS_HASH, text, None, 0, None, "active", None)}

    def annotate(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
        unserialisable = object()  # would fail orjson.dumps if the plan serialised it
        return Decision([Ev("NOTE", {})], unserialisable, "active", None, same_state=True)

    p = plan([Command(SID, annotate, now=1)], rows, {}, set())
    (done,) = p.outcomes
    assert done.head.sequence_number == 2 and done.state == {"notes": 7}
    assert p.heads[0][2] is text and p.moved == [False]


def test_the_stored_edge_reads_as_bytes_whatever_the_driver_returned() -> None:
    edge = bytes(range(32)) * 2
    assert stored_edge(edge) is edge  # the common case, not copied
    assert stored_edge(memoryview(edge)) == edge  # a driver's buffer
    assert stored_edge("") == b""  # SQLite: an empty blob's default reads back as text
    assert stored_edge(None) == b""
    assert TreeState.stored(2, memoryview(edge)) == TreeState(2, edge)


def test_a_grown_tree_is_the_memory_tree_and_its_upper_nodes() -> None:
    n = 5 << STORED_LEVEL >> 1  # two and a half blocks
    hashes = [f"{i:064x}" for i in range(1, n + 1)]
    entries = [LogEntry("s", i, "t", "NOTE", None, "{}", "", h) for i, h in enumerate(hashes, 1)]
    size, edge, nodes = 0, b"", list[NodeRow]()
    for k in range(0, n, 3):  # commands of up to three entries
        size, edge = grow("s", size, edge, entries[k : k + 3], nodes)
    tree = MemoryTree()
    for h in hashes:
        tree.append(leaf_hash(h))
    assert size == n
    assert CompactRange.from_edge(size, edge).root() == tree.root(n)
    # Only complete nodes from STORED_LEVEL up: two blocks, then the node over both.
    base = STORED_LEVEL
    assert [(lv, i) for _, lv, i, _ in nodes] == [(base, 0), (base, 1), (base + 1, 0)]
    assert all(sid == "s" and h == tree.get(lv, i) for sid, lv, i, h in nodes)
