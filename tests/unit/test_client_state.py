"""The client's pure parts: delivery (dedupe, gaps, ticks), chain checks, back-off,
close codes, clock offset, frame parsing, judge scripts. No network, no loop."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

import clients
from clients import (
    TRANSIENT_CLOSE_CODES,
    Backoff,
    ChainCheck,
    ClockOffset,
    Event,
    Pong,
    Reply,
    ResyncError,
    ScriptError,
    Send,
    ServerError,
    StreamState,
    Tick,
    Verdict,
    Wait,
    Welcome,
    http_base,
    parse_frame,
    parse_script,
    reconnect_after,
    ws_url,
)
from clients.cli import Names, format_event, format_tick
from protocol import GENESIS_HASH, ChainVerifier, entry_hash
from protocol.errors import ProtocolError

SID = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"


def chain(n: int) -> list[Event]:
    events: list[Event] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        ts = f"2026-02-15T10:00:{seq:02d}.000000+00:00"
        details = {"i": seq}
        h = entry_hash(SID, seq, ts, "NOTE", "7", details, prev)
        events.append(Event(SID, seq, ts, "NOTE", "7", details, prev, h))
        prev = h
    return events


def welcome(head: int, head_hash: str = "h", recovered: bool | None = True) -> Welcome:
    return Welcome({}, head, head_hash, recovered, 1_000_000, {})


def tick(seq: int, remaining: int = 5000) -> Tick:
    return Tick("turn-1", remaining, True, seq, 1_000_000)


# -- delivery: Rule 1 (exactly once, in order) ---------------------------------


def test_delivers_in_order_and_drops_duplicates() -> None:
    events = chain(5)
    state = StreamState(SID)
    state.on_welcome(welcome(5, events[-1].hash), 0)
    verdicts = [state.on_event(e) for e in events[:3]]
    assert verdicts == [Verdict.DELIVER] * 3
    # A replay that overlaps what was delivered: the overlap is dropped.
    assert [state.on_event(e) for e in events[1:3]] == [Verdict.DUPLICATE] * 2
    assert state.on_event(events[3]) is Verdict.DELIVER
    assert state.last_sequence == 4
    assert state.duplicates == 2
    assert state.verified


def test_gap_is_not_delivered_and_resume_fills_it() -> None:
    events = chain(6)
    state = StreamState(SID)
    state.on_welcome(welcome(0, GENESIS_HASH), 0)
    for e in events[:2]:
        assert state.on_event(e) is Verdict.DELIVER
    # Entry 3 was lost: 4 and 5 must wait.
    assert state.on_event(events[3]) is Verdict.GAP
    assert state.on_event(events[4]) is Verdict.GAP
    assert state.last_sequence == 2
    assert state.resume_from == 2
    assert state.gaps == 2
    # The client resumes from 2: the server replays 3.. and it all verifies.
    state.on_welcome(welcome(6, events[-1].hash), 0)
    delivered = [e.sequence_number for e in events[2:] if state.on_event(e) is Verdict.DELIVER]
    assert delivered == [3, 4, 5, 6]
    assert state.verified
    assert state.chain is not None and state.chain.head_hash == events[-1].hash


def test_random_duplicates_and_reorders_deliver_each_entry_once() -> None:
    """Whatever arrives, what is delivered is exactly 1..N once, in order."""
    import random

    events = chain(40)
    rng = random.Random(7)
    state = StreamState(SID)
    state.on_welcome(welcome(0, GENESIS_HASH), 0)
    delivered: list[int] = []
    while state.last_sequence != 40:
        last = state.last_sequence or 0
        # Each "connection" replays from resume_from, with noise: repeats, drops, swaps.
        batch = list(events[last : last + rng.randint(1, 8)])
        batch += rng.sample(events, 3)
        rng.shuffle(batch)
        for e in batch:
            verdict = state.on_event(e)
            if verdict is Verdict.DELIVER:
                delivered.append(e.sequence_number)
            elif verdict is Verdict.GAP:
                break  # hang up; resume from last_sequence
    assert delivered == list(range(1, 41))
    assert state.verified


def test_live_only_starts_at_the_welcome_head() -> None:
    events = chain(5)
    state = StreamState(SID, start=None)
    assert state.resume_from is None
    state.on_welcome(welcome(3, events[2].hash), 0)
    assert state.last_sequence == 3
    assert state.on_event(events[2]) is Verdict.DUPLICATE
    assert state.on_event(events[3]) is Verdict.DELIVER
    assert state.verified
    # The anchor is the welcome's head hash: a wrong link is caught.
    forged = Event(SID, 5, events[4].timestamp, "NOTE", "7", {"i": 5}, "0" * 64, events[4].hash)
    assert state.on_event(forged) is Verdict.DELIVER
    assert not state.verified
    assert state.first_bad_sequence == 5


def test_event_before_welcome_is_a_gap() -> None:
    state = StreamState(SID, start=None)
    assert state.on_event(chain(1)[0]) is Verdict.GAP


def test_resuming_from_a_known_point() -> None:
    events = chain(5)
    state = StreamState(SID, start=2, anchor_hash=events[1].hash)
    state.on_welcome(welcome(5, events[-1].hash), 0)
    assert [state.on_event(e) for e in events] == [Verdict.DUPLICATE] * 2 + [Verdict.DELIVER] * 3
    assert state.verified


def test_tampered_event_is_delivered_but_flagged() -> None:
    events = chain(4)
    bad = Event(**{**events[2].as_entry(), "details": {"i": 99}})
    state = StreamState(SID)
    state.on_welcome(welcome(4, events[-1].hash), 0)
    for e in [events[0], events[1], bad, events[3]]:
        assert state.on_event(e) is Verdict.DELIVER
    assert not state.verified
    assert state.first_bad_sequence == 3


# -- welcome: Rule 3 ----------------------------------------------------------


def test_server_behind_the_client_is_a_resync_error() -> None:
    events = chain(4)
    state = StreamState(SID)
    state.on_welcome(welcome(4, events[-1].hash), 0)
    for e in events:
        state.on_event(e)
    with pytest.raises(ResyncError, match="head is #2"):
        state.on_welcome(welcome(2, events[1].hash), 0)


def test_server_that_cannot_recover_is_a_resync_error() -> None:
    state = StreamState(SID)
    with pytest.raises(ResyncError):
        state.on_welcome(welcome(3, recovered=False), 0)


def test_same_head_with_another_hash_is_a_resync_error() -> None:
    events = chain(2)
    state = StreamState(SID)
    state.on_welcome(welcome(2, events[-1].hash), 0)
    for e in events:
        state.on_event(e)
    state.on_welcome(welcome(2, events[-1].hash), 0)  # the same log: fine
    with pytest.raises(ResyncError, match="differs"):
        state.on_welcome(welcome(2, "f" * 64), 0)


# -- ticks: Rule 2 -------------------------------------------------------------


def test_ticks_ahead_of_the_log_or_older_than_delivered_are_dropped() -> None:
    events = chain(3)
    state = StreamState(SID)
    state.on_welcome(welcome(3, events[-1].hash), 0)
    assert not state.on_tick(tick(1), 0)  # nothing delivered yet: derived from unseen state
    for e in events[:2]:
        state.on_event(e)
    assert state.on_tick(tick(2), 0)
    assert not state.on_tick(tick(3), 0)  # ahead of last_sequence
    assert not state.on_tick(tick(1), 0)  # older than a delivered tick
    assert state.on_tick(tick(2, 4000), 0)  # same head, later time: fine
    state.on_event(events[2])
    assert state.on_tick(tick(3), 0)


# -- chain checks --------------------------------------------------------------


@pytest.mark.parametrize("anchor", [0, 2], ids=["from-genesis", "anchored"])
def test_chain_check_agrees_with_protocol_verifier(anchor: int) -> None:
    events = chain(6)
    for i in range(anchor, 6):
        for field, value in [("details", {"x": 1}), ("hash", "0" * 64), ("actor_id", None)]:
            tampered = list(events)
            tampered[i] = Event(**{**events[i].as_entry(), field: value})
            check = ChainCheck(SID, anchor, events[anchor - 1].hash if anchor else GENESIS_HASH)
            for e in tampered[anchor:]:
                check.feed(e)
            reference = ChainVerifier()
            for e in tampered:
                if not reference.feed(e.as_entry()):
                    break
            assert check.first_bad_sequence == reference.result().first_invalid_sequence == i + 1


def test_chain_check_without_anchor_hash_trusts_the_first_link_only() -> None:
    events = chain(4)
    check = ChainCheck(SID, 2, None)
    assert check.feed(events[2]) and check.feed(events[3])
    assert check.verified and check.count == 2
    check = ChainCheck(SID, 2, None)
    assert not check.feed(Event(**{**events[2].as_entry(), "event_type": "X"}))
    assert not check.feed(events[3])  # after a break, nothing verifies
    assert check.first_bad_sequence == 3


def test_chain_check_rejects_wrong_session_and_sequence() -> None:
    events = chain(3)
    check = ChainCheck("another-session", 1, events[0].hash)
    assert not check.feed(events[1])
    check = ChainCheck(SID, 1, events[0].hash)
    assert not check.feed(events[2])


# -- back-off ------------------------------------------------------------------


def test_backoff_schedule_doubles_to_the_cap() -> None:
    b = Backoff()
    assert [b.ceiling(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert b.ceiling(10_000) == 5.0  # no float overflow however long it fails


def test_backoff_jitter_stays_within_bounds() -> None:
    b = Backoff(initial=1.0, maximum=8.0, jitter=0.5)
    assert b.delay(1, draw=0.0) == 1.0
    assert b.delay(1, draw=0.999999) == pytest.approx(0.5, abs=1e-5)
    assert b.delay(4, draw=0.5) == pytest.approx(6.0)
    for attempt in range(1, 20):
        d = b.delay(attempt)
        assert b.ceiling(attempt) * 0.5 <= d <= b.ceiling(attempt)


def test_backoff_without_jitter_is_deterministic() -> None:
    b = Backoff(initial=0.1, maximum=1.0, factor=3.0, jitter=0.0)
    assert [b.delay(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.3, 0.9])


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"initial": 0}, id="zero-initial"),
        pytest.param({"initial": 6.0}, id="initial-over-max"),
        pytest.param({"factor": 0.5}, id="shrinking"),
        pytest.param({"jitter": 1.5}, id="jitter-over-one"),
    ],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_backoff_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(0)


# -- close codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "again"),
    [
        pytest.param(1000, False, id="normal"),
        pytest.param(1001, True, id="going-away"),
        pytest.param(1006, True, id="abrupt-loss"),
        pytest.param(1008, False, id="policy"),
        pytest.param(1009, False, id="too-large"),
        pytest.param(1011, True, id="internal"),
        pytest.param(1012, True, id="service-restart"),
        pytest.param(1013, True, id="overloaded"),
        pytest.param(4001, True, id="too-slow"),
        pytest.param(4401, False, id="unauthorized"),
        pytest.param(4403, False, id="forbidden"),
        pytest.param(4404, False, id="not-found"),
        pytest.param(4999, False, id="unknown"),
    ],
)
def test_which_closes_reconnect(code: int, again: bool) -> None:
    assert reconnect_after(code) is again
    assert (code in TRANSIENT_CLOSE_CODES) is again


# -- clock offset --------------------------------------------------------------


def test_clock_offset_from_one_way_samples_takes_the_least_delayed() -> None:
    c = ClockOffset()
    assert c.offset_ms is None
    # True offset 1000; one-way delays 30, 5, 12 ms make the samples too low.
    for delay in (30, 5, 12):
        local = 50_000.0
        c.observe(int(local + 1000 - delay), local)
    assert c.offset_ms == 995


def test_clock_offset_round_trip_brackets_the_truth() -> None:
    c = ClockOffset()
    # Ping at local 100, pong stamped 1120 (true offset 1000, 20 ms each way), back at 140.
    c.observe_round_trip(1120, 100.0, 140.0)
    assert c.offset_ms == 1000


def test_clock_offset_window_forgets_old_samples() -> None:
    c = ClockOffset(window=3)
    c.observe(10_000, 0.0)  # a stale, much higher bound
    for t in (1.0, 2.0, 3.0):
        c.observe(int(500 + t), t)
    assert c.offset_ms == 500


def test_clock_offset_crossed_bounds_use_the_freshest_sample() -> None:
    c = ClockOffset()
    c.observe(2000, 0.0)  # lower bound 2000
    c.observe_round_trip(1010, 0.0, 20.0)  # upper bound 1010 < 2000: the server clock stepped
    assert c.offset_ms == 990


# -- frames --------------------------------------------------------------------


def test_parse_every_server_frame() -> None:
    e = chain(1)[0]
    assert parse_frame(orjson.dumps({"type": "event", **e.as_entry()})) == e
    assert parse_frame(
        b'{"type":"tick","turn_id":"t","remaining_ms":5,"running":false,'
        b'"sequence_number":3,"server_time_ms":9}'
    ) == Tick("t", 5, False, 3, 9)
    w = parse_frame(
        '{"type":"welcome","v":1,"session":{"status":"active"},'
        '"head":{"sequence_number":4,"hash":"ab"},"recovered":null,"server_time_ms":7,"you":{}}'
    )
    assert isinstance(w, Welcome) and w.head_sequence == 4 and w.recovered is None
    r = parse_frame(
        '{"type":"reply","ref":3,"ok":true,"result":{"sequence_number":5},"server_time_ms":1}'
    )
    assert r == Reply(3, {"sequence_number": 5}, 1)
    assert parse_frame(
        '{"type":"error","ref":null,"code":"conflict","message":"no"}'
    ) == ServerError(None, "conflict", "no", False)
    assert parse_frame('{"type":"pong","ref":2,"server_time_ms":5}') == Pong(2, 5)


def test_event_actor_id_number_becomes_a_string() -> None:
    obj = {**chain(1)[0].as_entry(), "actor_id": 7}
    assert Event.from_entry(obj).actor_id == "7"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"nope", id="not-json"),
        pytest.param(b"[1]", id="not-object"),
        pytest.param(b'{"type":"gossip"}', id="unknown-type"),
        pytest.param(b'{"type":"event","sequence_number":"1"}', id="event-missing-fields"),
        pytest.param(b'{"type":"tick","turn_id":"t","remaining_ms":1.5}', id="tick-float"),
        pytest.param(b'{"type":"welcome","head":null}', id="welcome-no-head"),
        pytest.param(b'{"type":"reply","ref":true}', id="reply-bool-ref"),
    ],
)
def test_bad_frames_raise_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(frame)


# -- judge scripts -------------------------------------------------------------


def test_parse_script() -> None:
    steps = parse_script(
        """
        # open the session
        session.start
        wait 2
        log NOTE {"text": "counsel may proceed"}
        round.start r-1
        round.abort r-1 {"reason": "fire drill"}
        -session.pause
        turn.force_submit t-9 {"transcript": "", "reason": "time"}
        ping
        leave
        """
    )
    assert steps == [
        Send("session.start", {}, False, 3),
        Wait(2.0, 4),
        Send("log", {"event_type": "NOTE", "details": {"text": "counsel may proceed"}}, line=5),
        Send("round.start", {"round_id": "r-1"}, line=6),
        Send("round.abort", {"round_id": "r-1", "reason": "fire drill"}, line=7),
        Send("session.pause", {}, True, 8),
        Send("turn.force_submit", {"turn_id": "t-9", "transcript": "", "reason": "time"}, line=9),
        Send("ping", line=10),
        Send("leave", line=11),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("session.strat", "unknown command", id="typo"),
        pytest.param("hello", "unknown command", id="hello-is-not-a-step"),
        pytest.param("wait soon", "number of seconds", id="wait-not-a-number"),
        pytest.param("wait -1", "between", id="wait-negative"),
        pytest.param("-wait 1", "applies to commands", id="dash-wait"),
        pytest.param("log", "event type", id="log-without-type"),
        pytest.param("log NOTE {oops}", "JSON object", id="bad-json"),
        pytest.param("session.start [1]", "JSON object", id="json-not-object"),
    ],
)
def test_script_errors_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message) as info:
        parse_script(f"session.start\n\n{line}\n")
    assert info.value.line == 3


# -- urls, formatting, exports ---------------------------------------------------


@pytest.mark.parametrize(
    ("base", "ws", "http"),
    [
        ("http://h:8000", "ws://h:8000/ws/sessions/s", "http://h:8000"),
        ("https://h/court/", "wss://h/court/ws/sessions/s", "https://h/court"),
        ("ws://h:1", "ws://h:1/ws/sessions/s", "http://h:1"),
        ("h:9", "ws://h:9/ws/sessions/s", "http://h:9"),
    ],
)
def test_urls(base: str, ws: str, http: str) -> None:
    assert ws_url(base, "s") == ws
    assert http_base(base) == http


def test_bad_url() -> None:
    with pytest.raises(ValueError):
        ws_url("ftp://h", "s")


def test_formatting() -> None:
    e = chain(1)[0]
    assert format_event(e) == '#1     10:00:01.000 NOTE by user 7 {"i":1}'
    names = Names()
    names.learn_welcome(
        Welcome(
            session={"participants": {"7": {"name": "Priya Petitioner"}, "8": {"name": ""}}},
            head_sequence=0,
            head_hash="",
            recovered=None,
            server_time_ms=0,
            you={},
        )
    )
    assert format_event(e, names) == '#1     10:00:01.000 NOTE by Priya Petitioner {"i":1}'
    joined = Event.from_entry(
        {
            **e.as_entry(),
            "event_type": "PARTICIPANT_JOINED",
            "actor_id": "8",
            "details": {"name": "Rosa Respondent", "role": "respondent"},
        }
    )
    assert format_event(joined, names).endswith(
        "by user 8 " + '{"name":"Rosa Respondent","role":"respondent"}'
    )
    names.learn(joined)
    assert names.of("8") == "Rosa Respondent" and names.of("9") == "user 9"
    assert format_tick(Tick("t1", 65_400, True, 3, 0)) == "clock  01:05.4 running turn t1 (#3)"
    assert format_tick(Tick("t1", -1500, False, 3, 0)).startswith("clock -00:00.0 paused")


def test_exports() -> None:
    for name in clients.__all__:
        assert hasattr(clients, name), name
    assert sorted(clients.__all__) == sorted(set(clients.__all__))


def test_clients_never_import_the_server() -> None:
    code = (
        "import sys, clients, clients.cli; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('server', 'store', 'timers')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
