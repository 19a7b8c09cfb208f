"""Issue 15, items 8–12: what a judge or an observer trips over in the first hour."""

from __future__ import annotations

import pytest

from tests.browser.helpers import PASSWORD, Http, Pages, text, wait_live, wait_running

pytestmark = pytest.mark.browser

MISSING = "00000000-0000-4000-8000-000000000000"


def test_the_console_error_fixture_catches_errors(pages: Pages) -> None:
    page = pages.open("/login")
    page.wait_for_selector("#login-form")
    page.evaluate("console.error('something broke')")
    page.wait_for_timeout(100)
    caught = list(pages.errors)
    pages.errors.clear()  # caught on purpose: the fixture must not fail this test
    assert any("console error: something broke" in e for e in caught), caught


def test_the_sign_in_page_logs_no_console_error_and_checks_the_session_id(
    pages: Pages, http: Http
) -> None:
    page = pages.open("/")
    page.goto(http.base_url + "/")
    page.wait_for_selector("#watch-form")
    valid = "document.querySelector('#watch-id').validity.valid"
    page.fill("#watch-id", "a1b2-c3_d4")
    assert page.evaluate(valid) is True
    page.fill("#watch-id", "no spaces/or slashes")
    assert page.evaluate(valid) is False
    # The `pages` fixture fails this test on the invalid-pattern console error.


@pytest.mark.parametrize("view", ["watch", "judge", "speak", "replay"])
def test_an_unknown_session_says_so(pages: Pages, view: str) -> None:
    pages.expect_console_error(r"status of 404")  # the browser logs the HTTP 404 itself
    page = pages.open(f"/{view}/{MISSING}", user=None if view == "watch" else "judge")
    page.wait_for_selector('#refusal[data-kind="missing"]')
    assert text(page, "#refusal h1") == "No such session"
    assert MISSING in text(page, "#refusal")
    assert page.locator("#refusal .links a").count() == 1, "a way back"
    assert page.locator("#clock").count() == 0
    assert page.locator("#verified").count() == 0, "no 'verifying…' that stays forever"
    assert page.evaluate("document.activeElement.textContent") == "No such session"


def test_a_private_session_asks_to_sign_in_then_opens(pages: Pages, http: Http) -> None:
    sid = http.new_session("In camera", allow_anonymous_observers=False)
    page = pages.open(f"/watch/{sid}")
    page.wait_for_selector('#refusal[data-kind="sign-in"]')
    assert text(page, "#refusal h1") == "Sign in to watch this session"
    page.click("#refusal-sign-in")
    page.wait_for_selector("#login-form")
    page.fill("#username", "res1")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/#/watch/{sid}")
    wait_live(page)
    page.wait_for_selector('#observer-count[data-count="1"]')


def test_completing_while_a_turn_runs_names_the_round_and_the_speaker(
    pages: Pages, http: Http
) -> None:
    sid = http.new_session("Complete mid-turn")
    http.running_turn(sid, speaker="pet1", seconds=300)
    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    wait_running(judge)
    judge.click("#btn-complete")
    question = text(judge, "#complete-question")
    assert "Round 1 is still running: completing aborts it" in question, question
    assert "ends pet1's turn (Petitioner #1)" in question, question
    judge.click("#btn-complete-yes")
    judge.wait_for_selector('#session-status[data-status="completed"]')
    judge.wait_for_selector('#rounds .round[data-status="ABORTED"]')


def test_completing_with_no_round_running_asks_the_plain_question(pages: Pages, http: Http) -> None:
    sid = http.new_session("Complete at rest")
    http.start(sid)
    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    judge.click("#btn-complete")
    assert text(judge, "#complete-question") == "Complete the session? Its record closes for good."


def test_the_judge_console_shows_a_paused_turn_as_paused(pages: Pages, http: Http) -> None:
    sid = http.new_session("Pause shows")
    http.running_turn(sid, speaker="pet1", seconds=300)
    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    judge.wait_for_selector('#turn-line[data-turn-status="running"]')
    judge.click("#btn-pause")
    judge.wait_for_selector('#turn-line[data-turn-status="paused"]')
    assert text(judge, "#turn-line").endswith("· paused")
    assert "running" not in text(judge, "#rounds")
    assert "paused" in text(judge, "#rounds .turns .current")
    judge.click("#btn-resume")
    judge.wait_for_selector('#turn-line[data-turn-status="running"]')


def test_signing_in_holds_across_tabs_and_signing_out_ends_it_everywhere(
    pages: Pages, http: Http
) -> None:
    sid = http.new_session("Two tabs")
    http.start(sid)
    first = pages.open("/login")  # no sign-in injected: through the form
    first.fill("#username", "judge")
    first.fill("#password", PASSWORD)
    first.keyboard.press("Enter")
    first.wait_for_url("**/#/sessions")

    second = first.context.new_page()
    pages.watch(second, "second tab")
    second.goto(f"{http.base_url}/app/#/replay/{sid}")
    second.wait_for_selector("#replay-feed li")
    assert text(second, "#signed-in-as").startswith("judge")
    third = first.context.new_page()
    pages.watch(third, "third tab")
    third.goto(f"{http.base_url}/app/#/judge/{sid}")
    wait_live(third)

    second.click("#nav button:has-text('Sign out')")
    second.wait_for_selector("#login-form")
    for page in (first, third):
        page.wait_for_selector("#login-form")
        assert page.locator("#signed-in-as").count() == 0
    assert "next=" in third.url, "the judge console asks to sign in to come back"

    # Signing in again in one tab brings the waiting tabs back where they were.
    third.fill("#username", "judge")
    third.fill("#password", PASSWORD)
    third.keyboard.press("Enter")
    wait_live(third)
    second.wait_for_url("**/#/sessions")
