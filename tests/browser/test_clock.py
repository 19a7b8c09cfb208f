"""The live clock across pages: pause, resume, and a server restart.

Timing is measured inside the pages, on the one wall clock they share with
each other (same machine): the judge page stamps ``Date.now()`` when it sends
the command (``__courtroom.marks``), the observer page stamps it when its
clock stops or starts (``clock.frozenAt`` / ``clock.startedAt``) and when the
event arrived (``live.seen``). Playwright's own polling is not in the numbers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import (
    PHONE,
    Http,
    Pages,
    epoch_ms,
    remaining_ms,
    seqs,
    text,
    wait_live,
    wait_running,
    wait_seq,
    wait_verified,
)
from tests.integration.procs import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

STOP_WITHIN_MS = 300
SAME_WITHIN_MS = 100
ONE_FRAME_MS = 17


def _clock_at(page: Page, local_ms: float) -> float:
    """What the page's clock shows at a given moment of the shared wall clock."""
    value: float = page.evaluate("t => window.__courtroom.live.clock.remainingAtLocal(t)", local_ms)
    return value


def test_pause_stops_the_observer_clock_within_300_ms_then_resume(pages: Pages, http: Http) -> None:
    sid = http.new_session("pause and resume")
    http.running_turn(sid, seconds=600)
    judge = pages.open(f"/judge/{sid}", user="judge")
    observer = pages.open(f"/watch/{sid}", viewport=PHONE)  # anonymous, on a phone
    for p in (judge, observer):
        wait_live(p)
        wait_running(p)
    # Running: both clocks count down and agree with each other.
    t = epoch_ms() + 200
    a, b = _clock_at(judge, t), _clock_at(observer, t)
    assert abs(a - b) <= SAME_WITHIN_MS, (a, b)
    assert 590_000 < a <= 600_000

    judge.click("#btn-pause")
    observer.wait_for_selector('#clock[data-running="false"]', timeout=2_000)
    judge.wait_for_selector('#clock[data-running="false"]', timeout=2_000)
    sent = judge.evaluate("window.__courtroom.marks['session.pause']")
    frozen = observer.evaluate("window.__courtroom.live.clock.frozenAt")
    arrived = observer.evaluate("window.__courtroom.live.seen.SESSION_PAUSED")
    print(f"pause: observer clock stopped {frozen - sent} ms after the judge's click sent it")
    assert frozen - sent <= STOP_WITHIN_MS, (
        f"the observer's clock stopped {frozen - sent} ms after the pause"
    )
    assert frozen - arrived <= ONE_FRAME_MS, "the clock froze later than the pause event's frame"

    # Both show the same frozen remainder: the one the server logged.
    logged = observer.evaluate(
        "window.__courtroom.live.feed.filter(f => f.type === 'SESSION_PAUSED').pop().event.details.remaining_ms"
    )
    shown_j, shown_o = remaining_ms(judge), remaining_ms(observer)
    assert abs(shown_j - shown_o) <= SAME_WITHIN_MS, (shown_j, shown_o)
    assert shown_o == logged
    assert text(observer, "#clock") == text(judge, "#clock")
    # And they stay frozen (a later tick says the same).
    judge.wait_for_timeout(400)
    assert remaining_ms(observer) == shown_o and remaining_ms(judge) == shown_j
    assert text(observer, "#session-status") == "paused"

    # Resume: both run again, from the frozen remainder, in step.
    judge.click("#btn-resume")
    observer.wait_for_selector('#clock[data-running="true"]', timeout=2_000)
    judge.wait_for_selector('#clock[data-running="true"]', timeout=2_000)
    sent = judge.evaluate("window.__courtroom.marks['session.resume']")
    started = observer.evaluate("window.__courtroom.live.clock.startedAt")
    assert started - sent <= STOP_WITHIN_MS
    judge.wait_for_timeout(300)
    t = epoch_ms()
    a, b = _clock_at(judge, t), _clock_at(observer, t)
    assert abs(a - b) <= SAME_WITHIN_MS, (a, b)
    assert logged - 2_000 < a < logged, "the clock resumed from the frozen remainder and runs"
    first = remaining_ms(observer)
    observer.wait_for_timeout(300)
    assert remaining_ms(observer) < first, "the observer's clock runs again"


def test_server_restart_both_pages_recover_with_no_gap(
    pages: Pages, http: Http, server: ServerProcess
) -> None:
    # While the server is down the browser logs each refused reconnect attempt.
    pages.expect_console_error(r"^WebSocket connection to '.*' failed")
    sid = http.new_session("restart")
    http.running_turn(sid, seconds=600)
    judge = pages.open(f"/judge/{sid}", user="judge")
    observer = pages.open(f"/watch/{sid}")
    for p in (judge, observer):
        wait_live(p)
    http.note(sid, "before the crash")
    head = http.head(sid)
    for p in (judge, observer):
        wait_seq(p, head)

    server.kill()  # SIGKILL: no close frames, the sockets just drop
    for p in (judge, observer):
        p.wait_for_selector('#connection[data-status="reconnecting"]', timeout=5_000)
        assert text(p, "#connection") == "reconnecting…"
    # Keep the pages away until entries they never saw are committed (they
    # keep retrying meanwhile), so that they must come back through resume_from.
    for p in (judge, observer):
        p.context.set_offline(True)
    server.start()
    for i in range(3):
        http.note(sid, f"after the restart {i}")
    head = http.head(sid)
    judge.wait_for_timeout(300)
    assert seqs(judge)[-1] < head and seqs(observer)[-1] < head
    for p in (judge, observer):
        p.context.set_offline(False)
    for p in (judge, observer):
        wait_live(p, timeout=15_000)
        wait_seq(p, head, timeout=15_000)
        wait_verified(p, head)
    for p in (judge, observer):
        got = seqs(p)
        assert got == list(range(1, len(got) + 1)), f"gap or duplicate: {got}"
        assert got[-1] >= head
        assert p.evaluate("window.__courtroom.live.socket.connections") >= 2
        assert p.evaluate("window.__courtroom.live.socket.gaps") == 0
        notes = p.evaluate(
            "window.__courtroom.live.feed.filter(f => f.type === 'NOTE').map(f => [f.event.details.text, f.replayed])"
        )
        assert [n for n in notes if n[0].startswith("after")] == [
            [f"after the restart {i}", True] for i in range(3)
        ], "the missed entries came back as the replay after resume_from"
    # The clock came back from the log: still running, and both pages agree.
    wait_running(observer)
    time.sleep(0.2)
    t = epoch_ms()
    a, b = _clock_at(judge, t), _clock_at(observer, t)
    assert abs(a - b) <= SAME_WITHIN_MS
    # The judge's presence came back too.
    judge.wait_for_selector(
        f'#participants [data-user-id="{http.user_id("judge")}"][data-presence="connected"]'
    )
