"""Screenshots of every view for docs/browser.md (run on demand, not by pytest).

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots]

Starts a real server with the demo accounts (``courtroom demo``), seeds a
tournament with today's schedule, runs a live round with speakers and
observers in headless Chromium, completes a practice session for the replay,
and writes one PNG per view.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from server.node.cli import DEMO_PASSWORD
from tests.browser.helpers import (
    PHONE,
    Http,
    Pages,
    json_file,
    launch_chromium,
    wait_live,
    wait_running,
    wait_verified,
)
from tests.integration.procs import ServerProcess

MAX_BYTES = 300 * 1024


ONLY: set[str] = set()  # --only: the screenshots to write (all when empty)


def shot(
    page: Page,
    out: Path,
    name: str,
    *,
    full_page: bool = False,
    element: str | None = None,
    keep_focus: bool = False,
) -> Path:
    path = out / f"{name}.png"
    if ONLY and name not in ONLY:
        return path
    if not keep_focus:  # the focus ring, unless the picture is about the keyboard
        page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(150)
    if element is not None:
        page.locator(element).screenshot(path=str(path), animations="disabled", caret="hide")
    else:
        page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    size = path.stat().st_size
    print(f"{path} {size // 1024} KB")
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}")
    return path


def practice_session(http: Http) -> str:
    """A short completed session with a pause, for the replay view."""
    sid = http.new_session("Practice round: Acme Law v. Zenith Chambers")
    http.start(sid)
    http.join(sid, "pet1", "petitioner", 1)
    http.join(sid, "res1", "respondent", 1)
    r = http.round_for(sid, [("pet1", 40), ("res1", 40)])
    http.post(f"/api/classroom/rounds/{r['id']}/start")
    first, second = (str(t["id"]) for t in r["turns"])
    http.post(f"/api/classroom/turns/{first}/start", user="pet1")
    time.sleep(1.5)
    http.post(f"/api/session/{sid}/pause")
    time.sleep(0.8)
    http.post(f"/api/session/{sid}/resume")
    time.sleep(1.2)
    http.note(sid, "Counsel cites Marbury v. Madison")
    http.request(
        "POST",
        f"/api/classroom/turns/{first}/submit",
        "pet1",
        body={"transcript": "May it please the court: three points on standing."},
    )
    http.post(f"/api/classroom/turns/{second}/start", user="res1")
    time.sleep(1.0)
    http.request(
        "POST",
        f"/api/classroom/turns/{second}/submit",
        "res1",
        body={"transcript": "The respondent rests on its brief."},
    )
    http.post(f"/api/session/{sid}/complete")
    return sid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--only", nargs="*", default=[], help="write only these (names without .png)")
    args = ap.parse_args()
    ONLY.update(args.only)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), env={"COURTROOM_LOG_LEVEL": "warning"})
        server.cli("demo")  # the demo accounts, with display names
        with server, sync_playwright() as pw:
            browser = launch_chromium(pw)
            http = Http(server.base_url, password=DEMO_PASSWORD)
            pages = Pages(browser, http, server.base_url)
            try:
                run(pages, http, out)
            finally:
                pages.close()
                browser.close()
            if pages.errors:
                raise SystemExit(f"errors in the pages: {pages.errors}")


def run(pages: Pages, http: Http, out: Path) -> None:
    day = dt.datetime.now(dt.UTC).date().isoformat()
    replay_sid = practice_session(http)
    tour = http.tournament_today(day)
    sid = str(
        http.post("/api/session/create", {"assignment_id": str(tour["assignments"][0])})["id"]
    )
    http.post("/api/session/create", {"assignment_id": str(tour["assignments"][1])})
    http.start(sid)
    http.join(sid, "pet2", "petitioner", 2)
    http.join(sid, "res2", "respondent", 2)

    login = pages.open("/login")
    login.wait_for_selector("#login-form")
    login.fill("#username", "judge")
    shot(login, out, "login")

    judge = pages.open(f"/judge/{sid}", user="judge")
    wait_live(judge)
    speaker = pages.open(f"/speak/{sid}?role=petitioner&speaker=1", user="pet1")
    wait_live(speaker)
    res = pages.open(f"/speak/{sid}?role=respondent&speaker=1", user="res1")
    wait_live(res)
    phone = pages.open(f"/watch/{sid}", viewport=PHONE)
    wait_live(phone)
    pages.open(f"/watch/{sid}", viewport=PHONE)

    judge.select_option("#round-format", "custom")
    judge.fill("#round-seconds", "62")
    judge.click("#btn-create-start")
    speaker.wait_for_selector('#your-turn[data-mine="true"]')
    speaker.click("#btn-my-turn")
    wait_running(judge)
    judge.fill("#note-text", "Counsel for the petitioner cites Marbury v. Madison")
    judge.press("#note-text", "Enter")
    speaker.wait_for_selector("#time-warning:not([hidden])", timeout=8_000)
    speaker.fill(
        "#transcript",
        "May it please the court. The petitioner will make three points: standing, "
        "the merits of the takings claim, and the remedy.",
    )
    speaker.dispatch_event("#transcript", "input")
    head = http.head(sid)
    for p in (judge, speaker, phone):
        wait_verified(p, head)
    shot(speaker, out, "speaker")
    shot(phone, out, "observer-phone", full_page=True)
    shot(judge, out, "judge-console", full_page=True)

    sessions = pages.open("/sessions", user="judge")
    sessions.wait_for_selector("#active-table")
    sessions.wait_for_selector("#completed-table")
    sessions.wait_for_selector("#schedule-table")
    shot(sessions, out, "sessions", full_page=True)

    replay = pages.open(f"/replay/{replay_sid}", user="judge")
    replay.wait_for_selector('#verified[data-state="ok"]')
    entries = http.get(f"/api/session/{replay_sid}/replay")["entries"]
    resumed = next(e for e in entries if e["event_type"] == "SESSION_RESUMED")
    replay.evaluate(
        "d => window.__courtroom.replay.show(d.deadline_ms - d.remaining_ms + 700)",
        resumed["details"],
    )
    shot(replay, out, "replay")

    # The bundle verifier, given the completed session's bundle and the published keys.
    bundle = http.get(f"/api/session/{replay_sid}/bundle")
    keys = http.get("/.well-known/courtroom-keys", user=None)
    verify = pages.open_url(f"{http.base_url}/verify")
    verify.set_viewport_size({"width": 1100, "height": 900})
    verify.wait_for_function("window.__verifier && window.__verifier.ready")
    verify.set_input_files("#keys-file", files=[json_file("courtroom-keys.json", keys)])
    verify.set_input_files("#bundle-file", files=[json_file("session.bundle.json", bundle)])
    verify.wait_for_selector('#result[data-state="valid"]')
    shot(verify, out, "verify-page", full_page=True)

    # Refusals: a session that does not exist, one for signed-in observers only.
    pages.expect_console_error(r"status of 404")
    missing = pages.open("/judge/00000000-0000-4000-8000-000000000000", user="judge")
    missing.wait_for_selector('#refusal[data-kind="missing"]')
    shot(missing, out, "no-such-session")
    closed = http.new_session("In camera", allow_anonymous_observers=False)
    private = pages.open(f"/watch/{closed}", viewport=PHONE)
    private.wait_for_selector('#refusal[data-kind="sign-in"]')
    shot(private, out, "sign-in-to-watch")

    # Completing while a turn runs: the question names the round and the speaker.
    judge.click("#btn-complete")
    judge.wait_for_selector("#complete-confirm:not([hidden])")
    shot(judge, out, "complete-confirm", element="#controls-h >> xpath=..")

    board_and_scheduling(pages, http, out)


def board_and_scheduling(pages: Pages, http: Http, out: Path) -> None:
    """A six-court morning on the live board, and the scheduling page after a refused move."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    day = now.date().isoformat()

    def post(path: str, body: object) -> Any:
        return http.post(path, body, user="admin")

    t = post("/api/tournaments", {"name": "National Moot 2026", "public_schedule": True})
    base = f"/api/tournaments/{t['id']}"
    event = post(base + "/events", {"name": "Moot court"})["id"]
    stages = [
        post(base + "/stages", {"event_id": event, "name": n, "order": o})["id"]
        for n, o in (("Preliminary", 1), ("Quarter-final", 2))
    ]
    names = [
        ("Acme Law", ["pet1", "pet2"]),
        ("Zenith Chambers", ["res1", "res2"]),
        ("Northbridge", []),
        ("Southgate", []),
        ("Eastfield", []),
        ("Westbrook", []),
        ("Harbour Inn", []),
        ("Kingsgate", []),
        ("Riverside", []),
        ("Hillcrest", []),
        ("Lakeshore", []),
        ("Old Bailey Society", []),
    ]
    teams = [
        post(
            base + "/teams",
            {"name": n, "member_user_ids": [int(http.user_id(u)) for u in members]},
        )["id"]
        for n, members in names
    ]
    judge = post(
        base + "/judges", {"name": "Judge Judy Hale", "user_id": int(http.user_id("judge"))}
    )
    others = [post(base + "/judges", {"name": f"Hon. Panel {k}"})["id"] for k in range(1, 6)]
    courts = [
        post(base + "/courts", {"label": f"Court {n}", "number": n})["id"] for n in range(1, 7)
    ]
    starts = [now - dt.timedelta(minutes=20), now + dt.timedelta(minutes=70)]
    post(
        base + "/slots",
        {
            "slots": [
                {
                    "court_id": c,
                    "start": s.strftime("%Y-%m-%dT%H:%M:00Z"),
                    "duration_minutes": 60,
                    "day_date": day,
                }
                for s in starts
                for c in courts
            ]
        },
    )
    panel = [judge["id"], *others]
    for k in range(6):
        post(
            base + "/matches",
            {
                "stage_id": stages[0],
                "petitioner_team_id": teams[2 * k],
                "respondent_team_id": teams[2 * k + 1],
                "judge_ids": [panel[k]],
                "duration_minutes": 60,
            },
        )
    post(
        base + "/matches",
        {"stage_id": stages[1], "petitioner_team_id": teams[0], "respondent_team_id": teams[2]},
    )
    vid = post(base + "/schedule/versions", {})["id"]
    post(f"{base}/schedule/versions/{vid}/auto-assign", {})
    post(f"{base}/schedule/versions/{vid}/finalize", {})
    items = http.get(f"{base}/schedule/day?date={day}")["items"]
    first = [i for i in items if i["slot"]["start"] == items[0]["slot"]["start"]]
    sids = [
        str(post("/api/session/create", {"assignment_id": str(i["assignment_id"])})["id"])
        for i in first[:5]
    ]
    # Court 1 speaking, court 2 speaking with a warning, 3 paused, 4 completed, 5 pending
    # (late: its slot began 20 minutes ago), 6 not opened.
    for k, sid in enumerate(sids[:4]):
        http.start(sid)
        pet, res = ("pet1", "res1") if k % 2 == 0 else ("pet2", "res2")
        http.join(sid, pet, "petitioner", 1)
        http.join(sid, res, "respondent", 1)
        http.join(sid, "judge", "judge")
        r = http.round_for(sid, [(pet, 600 if k != 1 else 62), (res, 600)])
        http.post(f"/api/classroom/rounds/{r['id']}/start")
        http.post(f"/api/classroom/turns/{r['turns'][0]['id']}/start", user=pet)
    http.post(f"/api/session/{sids[2]}/pause")
    http.post(f"/api/session/{sids[3]}/complete")
    watchers = [pages.open(f"/watch/{sids[0]}", viewport=PHONE) for _ in range(3)]
    for w in watchers:
        wait_live(w)
    time.sleep(3)  # court 2's one-minute warning

    board = pages.open(f"/board/{t['id']}?date={day}", user="faculty")
    board.wait_for_selector('#connection[data-status="live"]')
    board.wait_for_selector('.tile[data-late="true"]')
    board.wait_for_selector(".tile:not([hidden]) .tile-warning:not([hidden])")
    board.wait_for_function(
        "document.querySelectorAll('.tile-chain[data-state=\"ok\"]').length >= 5"
    )
    shot(board, out, "board", full_page=True)
    hall = pages.open(f"/board/{t['id']}?date={day}", viewport=PHONE)
    hall.wait_for_selector('.tile[data-status="active"]')
    hall.select_option("#board-slot", items[0]["slot"]["start"])
    shot(hall, out, "board-public-phone")

    # Scheduling: a draft cloned from the finalized version, a refused move on screen.
    pages.expect_console_error(r"status of 422")
    sched = pages.open(f"/tournament/{t['id']}", user="admin")
    sched.wait_for_selector('#version-status:has-text("finalized")')
    sched.click("#btn-clone")
    sched.wait_for_selector('#version-status:has-text("draft")')
    # By keyboard: Enter on the match's cell picks it up, the target cell has the focus
    # (the arrows would move it there), Enter puts it down: refused.
    quarter = sched.locator(".match-card", has_text="Acme Law v. Northbridge")
    quarter.locator("xpath=ancestor::td[1]").focus()
    sched.keyboard.press("Enter")
    sched.wait_for_selector("#sched-grid.holding")
    target = sched.locator(".move-here").nth(1)  # 09:xx Court 2: Acme Law plays court 1 then
    target.locator("xpath=ancestor::td[1]").focus()
    shot(sched, out, "scheduling-keyboard", element="#sched-grid-box", keep_focus=True)
    sched.keyboard.press("Enter")
    sched.wait_for_selector("#move-refused:not([hidden]) .violations li")
    shot(sched, out, "scheduling", full_page=True)


if __name__ == "__main__":
    main()
