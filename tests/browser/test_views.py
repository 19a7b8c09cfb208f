"""The views, driven as people drive them: keyboard and clicks, several pages at once."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from server.live.hub import timestamp_ms
from tests.browser.helpers import (
    PASSWORD,
    PHONE,
    Http,
    Pages,
    remaining_ms,
    seqs,
    text,
    wait_live,
    wait_running,
    wait_seq,
    wait_verified,
)
from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.browser


def contiguous(page: Any) -> list[int]:
    got = seqs(page)
    assert got == list(range(1, len(got) + 1)), got
    return got


def test_sign_in_with_the_keyboard_sessions_and_the_schedule_of_the_day(
    pages: Pages, http: Http, server: ServerProcess
) -> None:
    day = dt.datetime.now(dt.UTC).date().isoformat()
    tour = http.tournament_today(day)
    live_sid = str(
        http.post("/api/session/create", {"assignment_id": str(tour["assignments"][0])})["id"]
    )
    http.start(live_sid)
    pending_sid = http.new_session("Waiting to begin")

    pages.expect_console_error(r"status of 401")  # the wrong password below, logged by the browser
    page = pages.open("/login")
    page.goto(server.base_url + "/")  # / leads to the app, which asks to sign in
    page.wait_for_selector("#login-form")
    assert page.url.endswith("/app/#/login")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type("judge")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "Wrong username or password" in text(page, "#login-error")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/sessions")
    page.wait_for_selector(f'#active-table tr[data-session-id="{live_sid}"]')
    page.wait_for_selector(f'#pending-table tr[data-session-id="{pending_sid}"]')
    assert "Judge Console".lower() in text(page, "#active-table").lower()

    # The schedule of the day, with the live session linked from its match.
    page.wait_for_selector(f'#tournament option[value="{tour["id"]}"]', state="attached")
    page.select_option("#tournament", str(tour["id"]))  # other tests' tournaments come first
    page.fill("#schedule-date", day)
    page.dispatch_event("#schedule-date", "change")
    page.wait_for_selector(f'#schedule-table[data-tournament-id="{tour["id"]}"][data-date="{day}"]')
    table = text(page, "#schedule-table")
    assert "Acme Law v. Zenith Chambers" in table and "Northbridge v. Southgate" in table
    assert page.locator(f'#schedule-table a[href="#/judge/{live_sid}"]').count() == 1

    # Focus is visible: tab to a control and look at its outline.
    page.focus("#new-title")
    page.keyboard.press("Shift+Tab")
    style = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert style[0] != "none" and style[1] != "0px", style

    # The judge console of the scheduled session shows who is expected.
    page.click(f'#active-table tr[data-session-id="{live_sid}"] a[href^="#/judge/"]')
    wait_live(page)
    people = text(page, "#participants")
    assert "expected" in people


def test_a_round_run_from_the_judge_console_with_speakers_and_an_observer(
    pages: Pages, http: Http
) -> None:
    sid = http.new_session("Full round")
    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    judge.click("#btn-start")
    judge.wait_for_selector('#session-status[data-status="active"]')

    pet = pages.open(f"/speak/{sid}", user="pet1")
    pet.check("#seat-petitioner-1")
    pet.click("#seat-form button[type=submit]")
    wait_live(pet)
    res = pages.open(f"/speak/{sid}", user="res1")
    assert res.is_disabled("#seat-petitioner-1"), "a taken seat cannot be picked"
    res.check("#seat-respondent-1")
    res.click("#seat-form button[type=submit]")
    wait_live(res)
    observer = pages.open(f"/watch/{sid}", viewport=PHONE)
    wait_live(observer)
    observer.wait_for_selector('#observer-count[data-count="1"]')
    for who in ("pet1", "res1"):
        judge.wait_for_selector(
            f'#participants [data-user-id="{http.user_id(who)}"][data-presence="connected"]'
        )

    # A round: one turn per speaker present, 32 s each (the 30 s warning comes at once).
    judge.select_option("#round-format", "custom")
    judge.fill("#round-seconds", "32")
    judge.click("#btn-create-start")
    pet.wait_for_selector('#your-turn[data-mine="true"]')
    assert res.get_attribute("#your-turn", "data-mine") == "false"
    assert not pet.is_disabled("#btn-my-turn") and res.is_disabled("#btn-my-turn")
    pet.keyboard.press("t")  # start my turn
    for p in (pet, res, observer, judge):
        wait_running(p)
    assert "Priya" not in text(observer, "#current-speaker")  # no demo names here
    assert "Petitioner #1" in text(observer, "#current-speaker")
    pet.wait_for_selector("#time-warning:not([hidden])", timeout=6_000)
    assert text(pet, "#time-warning") == "You have 0:30 left"
    res.wait_for_selector("#time-warning:not([hidden])")
    observer.wait_for_function(
        "document.querySelector('#feed').textContent.includes('Time warning: 0:30 left')"
    )

    # Pause and resume from the keyboard.
    judge.focus("body")
    judge.keyboard.press("p")
    observer.wait_for_selector('#clock[data-running="false"]')
    assert remaining_ms(observer) == remaining_ms(judge)
    judge.keyboard.press("p")
    observer.wait_for_selector('#clock[data-running="true"]')

    # The speaker submits with Ctrl+Enter; the respondent is up next.
    pet.fill("#transcript", "May it please the court, the petitioner submits three points.")
    assert text(pet, "#word-count") == "10 words"
    pet.press("#transcript", "Control+Enter")
    pet.wait_for_selector("#message.ok")
    res.wait_for_selector('#your-turn[data-mine="true"]')
    observer.wait_for_selector('#clock[data-running="false"]')
    assert text(observer, "#clock") == "0:32"

    # The judge force-submits the respondent's turn; the round completes.
    judge.fill("#fs-reason", "respondent yields the time")
    judge.click("#btn-force")
    judge.wait_for_selector('#rounds [data-status="COMPLETED"]')
    observer.wait_for_function(
        "document.querySelector('#feed').textContent.includes('force-submitted')"
    )

    # A second round, created without starting, then aborted with a reason.
    judge.click("#round-form button[name=create]")
    judge.wait_for_selector('#rounds [data-status="PENDING"]')
    judge.fill("#abort-reason", "time is short")
    judge.click("text=Abort round 2")
    judge.wait_for_selector('#rounds [data-status="ABORTED"]')
    observer.wait_for_function(
        "document.querySelector('#feed').textContent.includes('Round aborted: time is short')"
    )

    # A note, then presence: the respondent closes the page; the seat is
    # kept for the reconnect grace (the server's COURTROOM_RECONNECT_GRACE_MS).
    judge.fill("#note-text", "Bench retires — Zoë Ança to draft the ruling")
    judge.press("#note-text", "Enter")
    observer.wait_for_function("document.querySelector('#feed').textContent.includes('Zoë Ança')")
    res.context.close()
    judge.wait_for_selector(
        f'#participants [data-user-id="{http.user_id("res1")}"][data-presence="reconnecting"]'
    )

    # Complete (with its confirmation).
    judge.click("#btn-complete")
    judge.click("#btn-complete-yes")
    for p in (judge, observer, pet):
        p.wait_for_selector('#session-status[data-status="completed"]')
    head = http.head(sid)
    for p in (judge, observer, pet):
        wait_seq(p, head)
        wait_verified(p, head)
        assert contiguous(p)[-1] == head


def test_replay_scrubs_with_the_clock_as_it_was(pages: Pages, http: Http) -> None:
    sid = http.new_session("Replay me")
    turn = http.running_turn(sid, seconds=120)
    gap = 0.3  # seconds between entries, so each stretch of the timeline is wide enough
    time.sleep(gap)
    http.post(f"/api/session/{sid}/pause")
    time.sleep(gap)
    http.post(f"/api/session/{sid}/resume")
    time.sleep(gap)
    http.note(sid, "half way")
    http.request(
        "POST",
        f"/api/classroom/turns/{turn}/submit",
        "pet1",
        body={"transcript": "Thank you, your honours."},
    )
    http.post(f"/api/session/{sid}/complete")
    log = http.get(f"/api/session/{sid}/replay")["entries"]
    at = {e["event_type"]: timestamp_ms(e["timestamp"]) for e in log}
    details = {e["event_type"]: e["details"] for e in log}

    page = pages.open(f"/replay/{sid}", user="judge")
    page.wait_for_selector("#replay-clock")
    page.wait_for_selector('#verified[data-state="ok"]')
    assert page.get_attribute("#verified", "data-verified-through") == str(len(log))
    assert page.get_attribute("#verified", "data-head") == "matches"

    def clock_at(t: int) -> tuple[int | None, str]:
        page.evaluate("t => window.__courtroom.replay.show(t)", t)
        raw = page.get_attribute("#replay-clock", "data-remaining-ms")
        return (int(raw) if raw else None), page.get_attribute(
            "#replay-clock", "data-running"
        ) or ""

    # Before the turn: the round's first turn waits with its whole allowance.
    assert clock_at(at["TURN_STARTED"] - 1) == (120_000, "false")
    # While it ran: the deadline the log holds, minus the scrubbed time.
    t = at["TURN_STARTED"] + 150
    assert clock_at(t) == (details["TURN_STARTED"]["deadline_ms"] - t, "true")
    # While paused: frozen at the remainder the pause logged.
    frozen = details["SESSION_PAUSED"]["remaining_ms"]
    assert clock_at(at["SESSION_PAUSED"] + 150) == (frozen, "false")
    assert clock_at(at["SESSION_RESUMED"] - 1) == (frozen, "false")
    assert text(page, "#replay-status").startswith("Session paused")
    # After the resume: running on from the same remainder.
    t = at["SESSION_RESUMED"] + 150
    assert details["SESSION_RESUMED"]["remaining_ms"] == frozen
    assert clock_at(t) == (details["SESSION_RESUMED"]["deadline_ms"] - t, "true")
    assert clock_at(t)[0] == frozen - 150
    # At the end: submitted and completed; nothing runs.
    assert clock_at(timestamp_ms(log[-1]["timestamp"]))[1] == "false"
    assert text(page, "#replay-status").startswith("Session completed")

    # Keyboard: Home and End jump; arrows step one entry.
    page.focus("#btn-next")
    page.keyboard.press("Home")
    assert page.get_attribute("#replay-when", "data-index") == "1"
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#replay-when", "data-index") == "2"
    page.keyboard.press("End")
    assert page.get_attribute("#replay-when", "data-index") == str(len(log))
    assert page.locator("#replay-feed li").count() == len(log)


def test_observers_need_an_account_where_the_session_says_so(pages: Pages, http: Http) -> None:
    sid = http.new_session("Closed doors", allow_anonymous_observers=False)
    page = pages.open(f"/watch/{sid}", viewport=PHONE)
    page.wait_for_selector('#refusal[data-kind="sign-in"]')
    assert text(page, "#refusal h1") == "Sign in to watch this session"
    assert "signed-in observers only" in text(page, "#refusal")
    assert page.locator("#clock").count() == 0, "no dashed clock left behind"
    # Signed in, the same link works.
    page = pages.open(f"/watch/{sid}", user="res1", viewport=PHONE)
    wait_live(page)
    page.wait_for_selector('#observer-count[data-count="1"]')


def test_the_observer_view_fits_a_phone(pages: Pages, http: Http) -> None:
    sid = http.new_session("A long title that must wrap on a narrow phone screen without scrolling")
    http.running_turn(sid, seconds=300)
    page = pages.open(f"/watch/{sid}", viewport=PHONE)
    wait_live(page)
    wait_running(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px"
    box = page.locator("#clock").bounding_box()
    assert box is not None and box["height"] >= 80, "the clock is large"
