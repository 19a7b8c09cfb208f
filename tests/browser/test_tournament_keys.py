"""Issue 12, accessible: the tournament day by keyboard, in contrast, and pushed promptly.

The scheduling grid is a WAI-ARIA grid (a roving tabindex; arrows move, Enter or Space
picks a match up and puts it down, Escape cancels; the server validates the move), the
board's tiles are reached by Tab and open with Enter, every visible text of the board
and scheduling pages has a WCAG 2.x contrast of 4.5:1 (3:1 when large), and a session
opened for a match reaches an open board without waiting for its schedule re-read (the
server here re-reads once a day: ``COURTROOM_BOARD_RESCAN_MS`` in conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.contrast import low_contrast
from tests.browser.helpers import Http, Pages, text, wait_live
from tests.browser.test_tournament_day import card, cell_of, unscheduled_tournament

pytestmark = pytest.mark.browser


def scheduled(http: Http, name: str, *, finalize: bool = False) -> dict[str, Any]:
    tour = unscheduled_tournament(http, name)
    base = f"/api/tournaments/{tour['id']}/schedule/versions"
    vid = http.post(base, {}, user="admin")["id"]
    http.post(f"{base}/{vid}/auto-assign", {}, user="admin")
    if finalize:
        http.post(f"{base}/{vid}/finalize", {}, user="admin")
    return tour


def focused(page: Any) -> dict[str, Any]:
    """What has the keyboard focus: its tag, role, cell and text."""
    found: dict[str, Any] = page.evaluate(
        """() => { const e = document.activeElement;
        return {tag: e.tagName, role: e.getAttribute('role'), court: e.dataset.court || null,
                start: e.dataset.start || null, session: e.dataset.sessionId || null,
                text: (e.textContent || '').trim().slice(0, 80)}; }"""
    )
    return found


def tab_until(page: Any, want: Any, limit: int = 60) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press("Tab")
        f = focused(page)
        if want(f):
            return f
    raise AssertionError("Tab never reached it")


def test_the_grid_by_keyboard_only(pages: Pages, http: Http) -> None:
    tour = scheduled(http, "Keyboard Moot")
    m, (s1, s2, s3) = tour["matches"], tour["starts"]
    pages.expect_console_error(r"status of 422")  # the refused move, logged by the browser
    page = pages.open(f"/tournament/{tour['id']}", user="admin")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"]')
    assert page.get_attribute("#sched-grid", "role") == "grid"
    # One tab stop for the whole grid, at its first cell.
    assert page.locator("#sched-grid [tabindex='0']").count() == 1
    f = tab_until(page, lambda f: f["role"] == "gridcell")
    assert (f["court"], f["start"]) == ("Court 1", s1)
    page.keyboard.press("ArrowRight")
    assert (focused(page)["court"], focused(page)["start"]) == ("Court 2", s1)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # stays at the edge
    assert focused(page)["court"] == "Court 1"
    # Shift+Tab leaves the grid and Tab comes back to the cell last visited.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["role"] != "gridcell"
    f = tab_until(page, lambda f: f["role"] == "gridcell", limit=3)
    assert (f["court"], f["start"]) == ("Court 1", s2)
    page.keyboard.press("ArrowUp")

    # Pick m1 up, choose Court 2 at the second slot: refused (Acme Law is at Court 1 then).
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m1"]}"][aria-pressed="true"]')
    assert "Picked up Acme Law v. Zenith Chambers" in text(page, "#sched-message")
    assert page.locator("#sched-grid.holding").count() == 1
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert (focused(page)["court"], focused(page)["start"]) == ("Court 2", s2)
    page.keyboard.press("Enter")
    page.wait_for_selector("#move-refused:not([hidden]) .violations li")
    refusal = text(page, "#move-refused")
    assert "Acme Law v. Zenith Chambers cannot move to Court 2" in refusal
    assert "Acme Law would be in two matches at once" in refusal, refusal
    assert "Nothing was changed." in refusal
    assert cell_of(page, m["m1"]) == ("Court 1", s1)
    assert card(page, m["m1"]).get_attribute("data-locked") == "false"
    assert page.locator("#sched-grid.holding").count() == 0
    # The focus stayed in the grid, on the cell the move was aimed at.
    assert (focused(page)["role"], focused(page)["court"]) == ("gridcell", "Court 2")

    # Pick m3 up and put it back with Escape: nothing moves, the focus returns to its cell.
    page.keyboard.press("ArrowLeft")
    assert focused(page)["text"].endswith("Acme Law v. Northbridge")
    page.keyboard.press(" ")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"][aria-pressed="true"]')
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"][aria-pressed="false"]')
    assert (focused(page)["court"], focused(page)["start"]) == ("Court 1", s2)
    assert cell_of(page, m["m3"]) == ("Court 1", s2)

    # Pick it up again, and put it down at Court 2, last slot, with Space.
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"][aria-pressed="true"]')
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    page.wait_for_function(
        "([mid, start]) => { const c = document.querySelector(`.match-card[data-match-id='${mid}']`);"
        " return c && c.closest('td').dataset.start === start; }",
        arg=[m["m3"], s3],
    )
    assert cell_of(page, m["m3"]) == ("Court 2", s3)
    assert card(page, m["m3"]).get_attribute("data-locked") == "true"
    assert "1 locked" in text(page, "#report-summary")
    assert (focused(page)["court"], focused(page)["start"]) == ("Court 2", s3)
    assert page.locator("#sched-grid [tabindex='0']").count() == 1


def test_the_grid_opens_sessions_by_keyboard(pages: Pages, http: Http) -> None:
    tour = scheduled(http, "Finalized Keys", finalize=True)
    s1 = tour["starts"][0]
    page = pages.open(f"/tournament/{tour['id']}", user="admin")
    page.wait_for_selector('#version-status:has-text("finalized")')
    f = tab_until(page, lambda f: f["role"] == "gridcell")
    assert (f["court"], f["start"]) == ("Court 1", s1)
    page.keyboard.press("Enter")  # a finalized grid: Enter opens the match's live session
    page.wait_for_url("**/#/judge/*")
    wait_live(page)
    assert "Acme Law v. Zenith Chambers" in text(page, "#session-title")


def test_board_tiles_are_reached_by_tab_and_open_with_enter(pages: Pages, http: Http) -> None:
    tour = scheduled(http, "Tab Moot", finalize=True)
    items = http.get(f"/api/tournaments/{tour['id']}/schedule/day?date={tour['day']}", "admin")
    sids = [
        str(http.post("/api/session/create", {"assignment_id": str(i["assignment_id"])})["id"])
        for i in items["items"][:2]
    ]
    board = pages.open(f"/board/{tour['id']}?date={tour['day']}", user="admin")
    board.wait_for_selector('.tile[data-status="pending"]')
    board.wait_for_function(
        "document.querySelectorAll('.tile[data-status=\"pending\"]').length === 2"
    )
    reached = []
    for _ in range(40):
        board.keyboard.press("Tab")
        f = focused(board)
        if f["session"]:
            reached.append(f["session"])
        if set(reached) == set(sids):
            break
    assert set(reached) == set(sids), reached
    # The focused tile opens with Enter: the judge console of its session.
    board.keyboard.press("Enter")
    board.wait_for_url(f"**/#/judge/{reached[-1]}")


def test_a_session_opened_for_a_match_reaches_an_open_board_at_once(
    pages: Pages, http: Http
) -> None:
    tour = scheduled(http, "News Moot", finalize=True)
    items = http.get(f"/api/tournaments/{tour['id']}/schedule/day?date={tour['day']}", "admin")
    first = items["items"][0]
    board = pages.open(f"/board/{tour['id']}?date={tour['day']}", user="admin")
    tile = f'.tile[data-assignment-id="{first["assignment_id"]}"]'
    board.wait_for_selector(f'{tile}[data-status="unopened"]')  # its slot began 30 min ago
    assert "not opened" in text(board, f"{tile} .tile-status")
    board.evaluate(
        """sel => { const tile = document.querySelector(sel); window.__seen = null;
        new MutationObserver(() => { if (tile.dataset.status === 'pending' && !window.__seen)
          window.__seen = Date.now(); }).observe(tile, {attributes: true}); }""",
        tile,
    )
    sent = board.evaluate("Date.now()")
    sid = str(
        http.post("/api/session/create", {"assignment_id": str(first["assignment_id"])})["id"]
    )
    # This server re-reads a board's schedule once a day: only the push can bring it.
    board.wait_for_selector(f'{tile}[data-status="pending"][data-session-id="{sid}"]')
    print(f"news to tile (ms, from before the HTTP call): {board.evaluate('window.__seen') - sent}")
    assert board.evaluate("window.__courtroom.board.socket.frames.schedule") == 1
    http.start(sid)
    board.wait_for_selector(f'{tile}[data-status="active"]')


def test_the_tournament_pages_have_enough_contrast(pages: Pages, http: Http) -> None:
    failures: dict[str, list[dict[str, Any]]] = {}
    measured = 0

    def check(page: Any, state: str) -> None:
        nonlocal measured
        n, bad, lowest = low_contrast(page)
        print(f"{state}: {n} texts; nearest their minimum: {lowest}")
        measured += n
        if bad:
            failures[state] = bad

    # Scheduling: a draft holding a match, then a refused move's explanation.
    tour = scheduled(http, "Contrast Moot")
    m = tour["matches"]
    pages.expect_console_error(r"status of 422")
    page = pages.open(f"/tournament/{tour['id']}", user="admin")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"]')
    check(page, "schedule, draft")
    card(page, m["m1"]).click()
    page.wait_for_selector("#sched-grid.holding")
    page.locator(f'td[data-court="Court 2"][data-start="{tour["starts"][1]}"]').focus()
    check(page, "schedule, holding a match")
    page.keyboard.press("Enter")
    page.wait_for_selector("#move-refused:not([hidden]) .violations li")
    check(page, "schedule, a refused move")
    # Finalized, with live sessions: links and buttons in the cells.
    fin = scheduled(http, "Contrast Final", finalize=True)
    items = http.get(f"/api/tournaments/{fin['id']}/schedule/day?date={fin['day']}", "admin")
    sids = [
        str(http.post("/api/session/create", {"assignment_id": str(i["assignment_id"])})["id"])
        for i in items["items"][:2]
    ]
    page = pages.open(f"/tournament/{fin['id']}", user="admin")
    page.wait_for_selector("a[data-open-session]")
    check(page, "schedule, finalized")

    # The board: active with a running clock, paused, pending and late, not opened, scheduled.
    http.running_turn(sids[0], speaker="pet1", seconds=20)  # low: under 30 s
    board = pages.open(f"/board/{fin['id']}?date={fin['day']}", user="admin")
    board.wait_for_selector('.tile-clock[data-running="true"]')
    board.wait_for_selector('.tile[data-late="true"]')
    board.wait_for_selector('.tile-chain[data-state="ok"]')
    check(board, "board, running")
    http.post(f"/api/session/{sids[0]}/pause", {}, user="judge")
    board.wait_for_selector('.tile[data-status="paused"]')
    board.locator(".tile[href]").first.focus()
    check(board, "board, paused")
    http.post(f"/api/session/{sids[1]}/start", {}, user="judge")
    http.post(f"/api/session/{sids[1]}/complete", {}, user="judge")
    board.wait_for_selector('.tile[data-status="completed"]')
    check(board, "board, completed")
    # A private board refused: the sign-in card.
    anon = pages.open(f"/board/{fin['id']}?date={fin['day']}")
    anon.wait_for_selector('#refusal[data-code="4401"]')
    check(anon, "board, refused")
    assert measured > 100, measured
    assert not failures, failures

    # The measure itself: faint text fails, the same grey passes when large and bold.
    board.evaluate(
        """() => { const p = document.createElement('p'); p.id = 'faint';
        p.style.cssText = 'color:#949494;background:#fff'; p.textContent = 'faint';
        const big = p.cloneNode(true); big.id = 'big';
        big.style.cssText += ';font-size:19px;font-weight:700';
        document.querySelector('.view.board').append(p, big); }"""
    )
    _, bad, _ = low_contrast(board)
    assert [(b["element"], b["need"]) for b in bad] == [("p#faint", 4.5)], bad
