"""Issue 12 in the browser: an organiser runs a tournament day without curl.

Scheduling (a version, auto-assign, a move by drag-and-drop and one by keyboard, a refused
move explained, the conflict report, finalize), opening the sessions of a slot, and the live
board updating while a judge in another page starts, pauses and completes a session.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.browser.helpers import Http, Pages, text, wait_live

pytestmark = pytest.mark.browser


def minute(t: dt.datetime) -> str:
    return t.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00Z")


def unscheduled_tournament(http: Http, name: str, *, public: bool = False) -> dict[str, Any]:
    """Two courts, three 60-minute slots each (the first began 30 minutes ago), and three
    matches: m1 = A v B and m2 = C v D (stage 1), m3 = A v C (stage 2). No version yet."""
    now = dt.datetime.now(dt.UTC)
    day = now.date().isoformat()

    def post(path: str, body: Any) -> Any:
        return http.post(path, body, user="admin")

    t = post("/api/tournaments", {"name": name, "public_schedule": public})
    base = f"/api/tournaments/{t['id']}"
    event = post(base + "/events", {"name": "Moot court"})["id"]
    stages = [
        post(base + "/stages", {"event_id": event, "name": n, "order": o})["id"]
        for n, o in (("Preliminary", 1), ("Semi-final", 2))
    ]
    teams = {
        n: post(base + "/teams", {"name": n, "member_user_ids": m})["id"]
        for n, m in (
            ("Acme Law", [int(http.user_id("pet1"))]),
            ("Zenith Chambers", [int(http.user_id("res1"))]),
            ("Northbridge", []),
            ("Southgate", []),
        )
    }
    j1 = post(base + "/judges", {"name": "Judge Hale", "user_id": int(http.user_id("judge"))})
    j2 = post(base + "/judges", {"name": "Hon. Okafor"})
    courts = [post(base + "/courts", {"label": f"Court {n}", "number": n})["id"] for n in (1, 2)]
    starts = [now - dt.timedelta(minutes=30), now + dt.timedelta(minutes=60)]
    starts.append(now + dt.timedelta(minutes=150))
    post(
        base + "/slots",
        {
            "slots": [
                {"court_id": c, "start": minute(s), "duration_minutes": 60, "day_date": day}
                for s in starts
                for c in courts
            ]
        },
    )
    matches = {}
    for key, stage, pet, res, judge in (
        ("m1", stages[0], "Acme Law", "Zenith Chambers", j1["id"]),
        ("m2", stages[0], "Northbridge", "Southgate", j2["id"]),
        ("m3", stages[1], "Acme Law", "Northbridge", j2["id"]),
    ):
        body = {
            "stage_id": stage,
            "petitioner_team_id": teams[pet],
            "respondent_team_id": teams[res],
            "judge_ids": [judge],
            "duration_minutes": 60,
        }
        matches[key] = post(base + "/matches", body)["id"]
    return {"id": t["id"], "day": day, "starts": [minute(s) for s in starts], "matches": matches}


def card(page: Any, match_id: int) -> Any:
    return page.locator(f'.match-card[data-match-id="{match_id}"]')


def cell_of(page: Any, match_id: int) -> tuple[str | None, str | None]:
    td = card(page, match_id).locator("xpath=ancestor::td[1]")
    return td.get_attribute("data-court"), td.get_attribute("data-start")


def test_an_organiser_schedules_the_day_and_watches_the_board(pages: Pages, http: Http) -> None:
    tour = unscheduled_tournament(http, "Autumn Moot")
    tid, day, (s1, s2, s3) = tour["id"], tour["day"], tour["starts"]
    m = tour["matches"]
    pages.expect_console_error(r"status of 422")  # the refused move below, logged by the browser
    page = pages.open(f"/tournament/{tid}", user="admin")
    page.wait_for_selector("#tournament-title:has-text('Autumn Moot')")
    assert "No schedule version yet" in text(page, "#sched-grid-box")

    # A version, auto-assigned: stage 1 at the first slot, the semi-final after it.
    page.click("#btn-new-version")
    page.wait_for_selector('#version-status:has-text("draft")')
    page.click("#btn-auto")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"]')
    assert cell_of(page, m["m1"]) == ("Court 1", s1)
    assert cell_of(page, m["m2"]) == ("Court 2", s1)
    assert cell_of(page, m["m3"]) == ("Court 1", s2)
    assert "3 of 3 matches placed" in text(page, "#report-summary")

    # A refused move: the reasons in plain words, and nothing changes.
    page.drag_and_drop(
        f'.match-card[data-match-id="{m["m1"]}"]',
        f'td[data-court="Court 2"][data-start="{s2}"]',
    )
    page.wait_for_selector("#move-refused:not([hidden]) .violations li")
    refusal = text(page, "#move-refused")
    assert "Acme Law v. Zenith Chambers cannot move to Court 2" in refusal
    assert "Acme Law would be in two matches at once" in refusal, refusal
    assert "Nothing was changed." in refusal
    assert cell_of(page, m["m1"]) == ("Court 1", s1)
    assert card(page, m["m1"]).get_attribute("data-locked") == "false"

    # A move with the keyboard: pick the semi-final up, move it to the last slot.
    card(page, m["m3"]).focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.match-card[data-match-id="{m["m3"]}"][aria-pressed="true"]')
    target = page.locator(f'td[data-court="Court 2"][data-start="{s3}"] .move-here')
    target.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([mid, start]) => { const c = document.querySelector(`.match-card[data-match-id='${mid}']`);"
        " return c && c.closest('td').dataset.start === start; }",
        arg=[m["m3"], s3],
    )
    assert cell_of(page, m["m3"]) == ("Court 2", s3)
    assert card(page, m["m3"]).get_attribute("data-locked") == "true", (
        "a match moved by hand is locked"
    )
    assert card(page, m["m3"]).locator(".lock").count() == 1
    assert "1 locked" in text(page, "#report-summary")

    # Drag-and-drop that the server accepts.
    page.drag_and_drop(
        f'.match-card[data-match-id="{m["m2"]}"]', f'td[data-court="Court 2"][data-start="{s2}"]'
    )
    page.wait_for_function(
        "([mid, start]) => { const c = document.querySelector(`.match-card[data-match-id='${mid}']`);"
        " return c && c.closest('td').dataset.start === start; }",
        arg=[m["m2"], s2],
    )
    assert "2 locked" in text(page, "#report-summary")
    assert page.locator("#report-summary[data-conflict-free='true']").count() == 1

    # Finalize, with a confirmation; then the grid is read-only.
    page.click("#btn-finalize")
    assert "becomes read-only" in text(page, "#finalize-question")
    page.click("#btn-finalize-yes")
    page.wait_for_selector('#version-status:has-text("finalized")')
    assert card(page, m["m1"]).get_attribute("draggable") == "false"
    assert page.is_disabled("#btn-auto") and page.is_disabled("#btn-finalize")

    # Open the live session of one match: its judge console; back to the schedule.
    aid2 = card(page, m["m2"]).get_attribute("data-assignment-id")
    page.click(f'button[data-open-session="{aid2}"]')
    page.wait_for_url("**/#/judge/*")
    wait_live(page)
    assert "Northbridge v. Southgate" in text(page, "#session-title")
    page.go_back()
    page.wait_for_selector(f'a[data-open-session="{aid2}"]')  # now a link to its console

    # Open every session of the first slot: the board of the day follows.
    page.click(f'button[data-open-slot="{s1}"]')
    page.wait_for_url(f"**/#/board/{tid}?date={day}")
    page.wait_for_selector('#connection[data-status="live"]')
    board = page
    board.wait_for_selector('.tile[data-status="pending"]')
    tiles = board.locator(".tile")
    assert tiles.count() == 3
    assert board.locator('.tile[data-status="pending"]').count() == 2  # m1's and m2's sessions
    first = board.locator(".tile").first
    assert "Acme Law v. Zenith Chambers" in (first.text_content() or "")
    sid = first.get_attribute("data-session-id")
    assert sid, "the 09:00 match has its session"
    # Not started 30 minutes into its slot: flagged late.
    board.wait_for_selector(f'.tile[data-session-id="{sid}"][data-late="true"]')
    assert "Late: not started" in (first.text_content() or "")
    assert first.get_attribute("href") == f"#/judge/{sid}"

    # Filter by court and by slot.
    board.select_option("#board-court", "Court 2")
    assert board.locator(".tile:not([hidden])").count() == 2
    board.select_option("#board-court", "")
    board.select_option("#board-slot", s1)  # m2 moved away: the first slot holds m1 alone
    assert board.locator(".tile:not([hidden])").count() == 1
    board.select_option("#board-slot", "")
    board.check("#board-late-only")
    assert board.locator(".tile:not([hidden])").count() == 1
    assert board.locator(".tile:not([hidden])").get_attribute("data-session-id") == sid
    board.uncheck("#board-late-only")
    board.select_option("#board-sort", "court")
    order = board.eval_on_selector_all(".tile", "ts => ts.map(t => t.dataset.court)")
    assert order == ["Court 1", "Court 2", "Court 2"]

    # A judge in another page runs the session; the tile follows each step.
    board.evaluate(
        """sid => { window.__changes = [];
        new MutationObserver(() => {}).observe(document.body, {subtree: true, attributes: true});
        const tile = document.querySelector(`.tile[data-session-id='${sid}']`);
        new MutationObserver(() => window.__changes.push([tile.dataset.status, Date.now()]))
          .observe(tile, {attributes: true, attributeFilter: ['data-status']}); }""",
        sid,
    )
    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    board.wait_for_selector(f'.tile[data-session-id="{sid}"][data-connected="1"]')
    latencies = {}
    for button, status in (
        ("#btn-start", "active"),
        ("#btn-pause", "paused"),
        ("#btn-resume", "active"),
    ):
        judge.click(button)
        board.wait_for_selector(f'.tile[data-session-id="{sid}"][data-status="{status}"]')
        sent = judge.evaluate("t => window.__courtroom.marks[t]", _command(button))
        seen = board.evaluate("s => window.__changes.filter(c => c[0] === s).pop()[1]", status)
        latencies[button] = seen - sent
    board.wait_for_selector(f'.tile[data-session-id="{sid}"][data-late="false"]')
    judge.click("#btn-complete")
    judge.click("#btn-complete-yes")
    board.wait_for_selector(f'.tile[data-session-id="{sid}"][data-status="completed"]')
    print(f"board tile latency after the judge's click (ms): {latencies}")
    assert all(v >= 0 for v in latencies.values()), latencies
    # One socket for the board, whatever the number of courts.
    assert board.evaluate("window.__courtroom.board.socket.connections") == 1


def _command(button: str) -> str:
    return {
        "#btn-start": "session.start",
        "#btn-pause": "session.pause",
        "#btn-resume": "session.resume",
    }[button]


def test_the_public_board_is_read_only_and_a_private_one_asks_who_you_are(
    pages: Pages, http: Http
) -> None:
    public = unscheduled_tournament(http, "Open Moot", public=True)
    private = unscheduled_tournament(http, "Closed Moot")
    for tour in (public, private):
        base = f"/api/tournaments/{tour['id']}/schedule/versions"
        vid = http.post(base, {}, user="admin")["id"]
        http.post(f"{base}/{vid}/auto-assign", {}, user="admin")
        http.post(f"{base}/{vid}/finalize", {}, user="admin")
    items = http.get(f"/api/tournaments/{public['id']}/schedule/day?date={public['day']}")["items"]
    sid = str(
        http.post("/api/session/create", {"assignment_id": str(items[0]["assignment_id"])})["id"]
    )

    # The audience hall: no account, tiles lead to the observer view.
    hall = pages.open(f"/board/{public['id']}?date={public['day']}")
    hall.wait_for_selector(f'.tile[data-session-id="{sid}"][data-status="pending"]')
    assert hall.get_attribute(".view.board", "data-access") == "public"
    assert hall.get_attribute(f'.tile[data-session-id="{sid}"]', "href") == f"#/watch/{sid}"
    assert hall.locator("#board-links a").count() == 0, "no scheduling link for the audience"
    http.start(sid)
    hall.wait_for_selector(f'.tile[data-session-id="{sid}"][data-status="active"]')

    # A private board: anonymous is asked to sign in, a student is turned away.
    anon = pages.open(f"/board/{private['id']}?date={private['day']}")
    anon.wait_for_selector('#refusal[data-code="4401"]')
    assert text(anon, "#refusal h1") == "Sign in to see this board"
    student = pages.open(f"/board/{private['id']}?date={private['day']}", user="pet1")
    student.wait_for_selector('#refusal[data-code="4403"]')
    assert text(student, "#refusal h1") == "This board is for the organisers"
    assert student.locator(".tile").count() == 0


def test_unplaced_matches_say_why(pages: Pages, http: Http) -> None:
    tour = unscheduled_tournament(http, "Crowded Moot")
    base = f"/api/tournaments/{tour['id']}"
    stage = http.get(base + "/stages", user="admin")["stages"][0]["id"]
    teams = {t["name"]: t["id"] for t in http.get(base + "/teams", user="admin")["teams"]}
    too_long = {
        "stage_id": stage,
        "petitioner_team_id": teams["Southgate"],
        "respondent_team_id": teams["Zenith Chambers"],
        "duration_minutes": 120,
    }
    http.post(base + "/matches", too_long, user="admin")
    page = pages.open(f"/tournament/{tour['id']}", user="admin")
    page.wait_for_selector("#btn-new-version")
    page.click("#btn-new-version")
    page.wait_for_selector('#version-status:has-text("draft")')
    page.wait_for_selector('#unplaced .unplaced-reason[data-reason-code="NOT_YET_ASSIGNED"]')
    page.click("#btn-auto")
    # The long match fits no slot; the semi-final must wait for every preliminary.
    page.wait_for_selector("#report-summary:has-text('2 of 4 matches placed')")
    codes = page.eval_on_selector_all(
        "#unplaced li",
        "ls => ls.map(l => [l.querySelector('.match-card').textContent,"
        " l.querySelector('.unplaced-reason').dataset.reasonCode,"
        " l.querySelector('.unplaced-reason').textContent])",
    )
    reasons = {name: (code, words) for name, code, words in codes}
    assert reasons["Southgate v. Zenith Chambers"][0] == "NO_SLOT_LONG_ENOUGH", reasons
    assert reasons["Acme Law v. Northbridge"][0] == "STAGE_ORDER", reasons
    assert reasons["Southgate v. Zenith Chambers"][1] == (
        "No slot is long enough for Southgate v. Zenith Chambers (120 minutes):"
        " add a longer slot or shorten the match."
    )
    assert "Southgate v. Zenith Chambers" in reasons["Acme Law v. Northbridge"][1], reasons
    page.click("#btn-finalize")
    assert "have no slot" in text(page, "#finalize-question")


RAF_PROBE = """
(() => {
  // Count the animation-frame callbacks of each frame (they share its timestamp):
  // one loop for all clocks means one a frame, not one per clock.
  const raf = window.requestAnimationFrame.bind(window);
  const counts = new Map();
  window.__raf = { reset: () => counts.clear(), perFrame: () => [...counts.values()] };
  window.requestAnimationFrame = (fn) => raf((t) => {
    counts.set(t, (counts.get(t) || 0) + 1);
    fn(t);
  });
})();
"""


def test_sixty_four_running_courts_one_frame_loop(pages: Pages, http: Http) -> None:
    now = dt.datetime.now(dt.UTC)
    day = now.date().isoformat()

    def post(path: str, body: Any, user: str = "admin") -> Any:
        return http.post(path, body, user=user)

    t = post("/api/tournaments", {"name": "Sixty-four Courts"})
    base = f"/api/tournaments/{t['id']}"
    event = post(base + "/events", {"name": "Moot"})["id"]
    stage = post(base + "/stages", {"event_id": event, "name": "R1", "order": 1})["id"]
    teams = [post(base + "/teams", {"name": f"Team {k:03d}"})["id"] for k in range(128)]
    courts = [
        post(base + "/courts", {"label": f"Court {n}", "number": n})["id"] for n in range(1, 65)
    ]
    start = minute(now)
    slots = [
        {"court_id": c, "start": start, "duration_minutes": 60, "day_date": day} for c in courts
    ]
    post(base + "/slots", {"slots": slots})
    for k in range(64):
        post(
            base + "/matches",
            {
                "stage_id": stage,
                "petitioner_team_id": teams[2 * k],
                "respondent_team_id": teams[2 * k + 1],
            },
        )
    vid = post(base + "/schedule/versions", {})["id"]
    post(f"{base}/schedule/versions/{vid}/auto-assign", {})
    items = http.get(f"{base}/schedule/day?date={day}", user="admin")["items"]
    for i in items:
        sid = str(post("/api/session/create", {"assignment_id": str(i["assignment_id"])})["id"])
        http.running_turn(sid, speaker="pet1", seconds=1800)

    def probe(p: Any) -> None:
        p.add_init_script(RAF_PROBE)

    board = pages.open(f"/board/{t['id']}?date={day}", user="admin", before=probe)
    board.wait_for_function(
        "document.querySelectorAll('.tile-clock[data-running=\"true\"]').length === 64"
    )
    board.evaluate("window.__raf.reset()")
    first = board.eval_on_selector_all(".tile-clock", "cs => cs.map(c => c.textContent)")
    before = board.evaluate("[window.__courtroom.board.socket.frames.clocks, performance.now()]")
    board.wait_for_timeout(2500)
    after = board.evaluate("[window.__courtroom.board.socket.frames.clocks, performance.now()]")
    per_frame = board.evaluate("window.__raf.perFrame()")
    later = board.eval_on_selector_all(".tile-clock", "cs => cs.map(c => c.textContent)")
    assert len(per_frame) > 10, "the board draws on animation frames"
    assert max(per_frame) == 1, (
        f"one animation-frame callback a frame, not one per clock: {max(per_frame)}"
    )
    assert sum(a != b for a, b in zip(first, later, strict=True)) == 64, "every clock counts down"
    # One socket, and never more than 2 clocks frames a second for all 64 courts.
    frames = board.evaluate("window.__courtroom.board.socket.frames")
    assert frames["board"] == 1, frames
    assert after[0] - before[0] <= 2 * (after[1] - before[1]) / 1000 + 1, (before, after)
    assert after[0] > before[0], "the clocks are re-anchored from the server"
