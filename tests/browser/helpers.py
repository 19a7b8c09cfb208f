"""Helpers shared by the browser tests and ``screenshots.py``.

:class:`Http` is a tiny synchronous JSON client (urllib) for arranging a
session quickly over the HTTP routes; :func:`launch_chromium` starts Debian's
Chromium under Playwright; :func:`open_page` opens a page in its own browser
context (its own localStorage, so each page is its own user), signed in
without going through the form, with uncaught page errors and console errors
collected (a test fails on any, unless it declared the one it expects).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is imported by the fixtures, which skip or fail without it
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        FilePayload,
        Page,
        Playwright,
    )

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Pages in other contexts must not be throttled as background tabs:
    # every page here is watched at once.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
PASSWORD = "browser-test-password"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    return shutil.which("chromium")


def launch_chromium(pw: Playwright) -> Browser:
    path = chromium_path()
    if path is None:
        raise RuntimeError("Debian's chromium is not installed (apt-get install chromium)")
    return pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class Http:
    """JSON over HTTP to one server, with a token per user."""

    base_url: str
    password: str = PASSWORD
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def request(
        self, method: str, path: str, user: str | None = None, body: Any = None, form: Any = None
    ) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if user is not None:
            headers["Authorization"] = f"Bearer {self.login(user)['token']}"
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as exc:
            raise HttpError(exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(text) if text else None

    def login(self, user: str) -> dict[str, Any]:
        """Sign in once per user; returns what the page keeps in localStorage."""
        if user not in self.tokens:
            t = self.request(
                "POST", "/api/auth/login", form={"username": user, "password": self.password}
            )
            me = self._me(t["access_token"])
            self.tokens[user] = {
                "token": t["access_token"],
                "user_id": str(t["user_id"]),
                "role": t["role"],
                "username": user,
                "name": me.get("name") or user,
            }
        return self.tokens[user]

    def _me(self, token: str) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base_url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            me: dict[str, Any] = json.loads(r.read().decode())
        return me

    def user_id(self, user: str) -> str:
        return str(self.login(user)["user_id"])

    def get(self, path: str, user: str | None = "judge") -> Any:
        return self.request("GET", path, user)

    def post(self, path: str, body: Any = None, user: str | None = "judge") -> Any:
        return self.request("POST", path, user, body=body if body is not None else {})

    # --- arranging sessions ---

    def new_session(self, title: str = "browser test", **extra: Any) -> str:
        s = self.post("/api/session/create", {"title": title, **extra})
        return str(s["id"])

    def start(self, sid: str) -> None:
        self.post(f"/api/session/{sid}/start")

    def join(self, sid: str, user: str, role: str, speaker: int | None = None) -> None:
        self.post(f"/api/session/{sid}/join", {"role": role, "speaker": speaker}, user=user)

    def round_for(self, sid: str, plan: list[tuple[str, int]]) -> dict[str, Any]:
        """Create a round with explicit turns: [(username, seconds), ...]."""
        turns = [{"participant_id": self.user_id(u), "allowed_seconds": s} for u, s in plan]
        r: dict[str, Any] = self.post("/api/classroom/rounds", {"session_id": sid, "turns": turns})
        return r

    def running_turn(self, sid: str, speaker: str = "pet1", seconds: int = 600) -> str:
        """Start the session, seat ``speaker``, and run a one-turn round; returns the turn id."""
        self.start(sid)
        self.join(sid, speaker, "petitioner", 1)
        r = self.round_for(sid, [(speaker, seconds)])
        self.post(f"/api/classroom/rounds/{r['id']}/start")
        turn_id = str(r["turns"][0]["id"])
        self.post(f"/api/classroom/turns/{turn_id}/start", user=speaker)
        return turn_id

    def note(self, sid: str, text: str, user: str = "judge") -> int:
        r = self.post(
            f"/api/session/{sid}/log", {"event_type": "NOTE", "details": {"text": text}}, user=user
        )
        return int(r["sequence_number"])

    def tournament_today(self, day: str, admin: str = "admin") -> dict[str, Any]:
        """A small tournament with three matches on ``day`` (YYYY-MM-DD, UTC), auto-assigned
        and finalized; returns {"id", "assignments": [ids in start order]}."""

        def post(path: str, body: Any) -> Any:
            return self.post(path, body, user=admin)

        t = post("/api/tournaments", {"name": "Spring Moot 2026", "public_schedule": True})
        base = f"/api/tournaments/{t['id']}"
        event = post(base + "/events", {"name": "Moot court"})["id"]
        stage = post(
            base + "/stages", {"event_id": event, "name": "Preliminary round", "order": 1}
        )["id"]
        teams = {
            name: post(
                base + "/teams",
                {
                    "name": name,
                    "institution": inst,
                    "member_user_ids": [int(self.user_id(u)) for u in members],
                },
            )["id"]
            for name, inst, members in (
                ("Acme Law", "Acme University", ["pet1"]),
                ("Zenith Chambers", "Zenith College", ["res1"]),
                ("Northbridge", "Northbridge Law School", []),
                ("Southgate", "Southgate University", []),
            )
        }
        judges = [
            post(
                base + "/judges", {"name": "Judge Judy Hale", "user_id": int(self.user_id("judge"))}
            )["id"],
            post(base + "/judges", {"name": "Hon. R. Okafor"})["id"],
        ]
        courts = [
            post(base + "/courts", {"label": f"Court {n}", "number": n})["id"] for n in (1, 2)
        ]
        post(
            base + "/slots",
            {
                "slots": [
                    {"court_id": c, "start": f"{day}T{hhmm}:00Z", "duration_minutes": 60}
                    for hhmm in ("09:00", "10:30")
                    for c in courts
                ]
            },
        )
        for pet, res, judge in (
            ("Acme Law", "Zenith Chambers", judges[0]),
            ("Northbridge", "Southgate", judges[1]),
        ):
            post(
                base + "/matches",
                {
                    "stage_id": stage,
                    "petitioner_team_id": teams[pet],
                    "respondent_team_id": teams[res],
                    "judge_ids": [judge],
                    "duration_minutes": 60,
                },
            )
        vid = post(base + "/schedule/versions", {})["id"]
        post(f"{base}/schedule/versions/{vid}/auto-assign", {})
        post(f"{base}/schedule/versions/{vid}/finalize", {})
        items = self.get(f"{base}/schedule/day?date={day}")["items"]
        return {"id": t["id"], "assignments": [i["assignment_id"] for i in items]}

    def head(self, sid: str) -> int:
        return int(self.get(f"/api/session/{sid}")["head"]["sequence_number"])


class Pages:
    """Opens pages, each in its own context; closes them all at the end."""

    def __init__(self, browser: Browser, http: Http, base_url: str) -> None:
        self.browser = browser
        self.http = http
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def expect_console_error(self, pattern: str) -> None:
        """A console error this test causes on purpose (e.g. the 404 of a missing session)."""
        self.expected.append(re.compile(pattern))

    def watch(self, page: Page, route: str) -> None:
        """Collect the page's uncaught errors and console errors into ``errors``."""
        page.on("pageerror", lambda exc: self.errors.append(f"{route}: {exc}"))

        def console(msg: ConsoleMessage) -> None:
            if msg.type != "error":
                return
            if any(p.search(msg.text) for p in self.expected):
                return
            self.errors.append(f"{route}: console error: {msg.text} at {msg.location}")

        page.on("console", console)

    def open(
        self,
        route: str,
        user: str | None = None,
        viewport: dict[str, int] | None = None,
        before: Callable[[Page], None] | None = None,
    ) -> Page:
        """A new page at ``/app/#<route>``, signed in as ``user`` (None: anonymous)."""
        ctx = self.browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        self.contexts.append(ctx)
        if user is not None:
            auth = json.dumps(json.dumps(self.http.login(user)))
            ctx.add_init_script(f"localStorage.setItem('courtroom.auth', {auth});")
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        self.watch(page, route)
        if before is not None:
            before(page)
        page.goto(f"{self.base_url}/app/#{route}")
        return page

    def open_url(self, url: str) -> Page:
        """A new page at any ``url`` (the bundle verifier, a saved file), in its own context."""
        ctx = self.browser.new_context()
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        self.watch(page, url)
        page.goto(url)
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            try:
                ctx.close()
            except Exception:  # a context of a browser that is gone already
                pass
        self.contexts.clear()


def json_file(name: str, doc: Any) -> FilePayload:
    """A JSON file to give a page's file input (``set_input_files``)."""
    return {"name": name, "mimeType": "application/json", "buffer": json.dumps(doc).encode()}


def wait_live(page: Page, timeout: float = 10_000) -> None:
    """Until the page's socket says live and its clock panel is drawn."""
    page.wait_for_selector('#connection[data-status="live"]', timeout=timeout)


def wait_running(page: Page, running: bool = True, timeout: float = 10_000) -> None:
    page.wait_for_selector(
        f'#clock[data-running="{"true" if running else "false"}"]', timeout=timeout
    )


def seqs(page: Page) -> list[int]:
    out: list[int] = page.evaluate("window.__courtroom.seqs")
    return out


def wait_seq(page: Page, seq: int, timeout: float = 10_000) -> None:
    """Until the page has received entry ``seq`` (and so all before it)."""
    page.wait_for_function(
        "n => window.__courtroom.live && window.__courtroom.live.socket.lastSeq >= n",
        arg=seq,
        timeout=timeout,
    )


def wait_verified(page: Page, seq: int, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "n => { const b = document.querySelector('#verified');"
        " return b && b.dataset.state === 'ok' && Number(b.dataset.verifiedThrough) >= n; }",
        arg=seq,
        timeout=timeout,
    )


def text(page: Page, selector: str) -> str:
    """The text content of ``selector`` ("" when it has none)."""
    return page.text_content(selector) or ""


def remaining_ms(page: Page) -> int:
    value = page.get_attribute("#clock", "data-remaining-ms")
    assert value, "the clock shows no turn"
    return int(value)


def epoch_ms() -> float:
    return time.time() * 1000
