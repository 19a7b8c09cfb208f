"""Browser tests: headless Debian Chromium under Playwright, against a real server process.

One server process (uvicorn, SQLite in a temporary directory, via
``tests/integration/procs.py``) and one Chromium serve this package (package scope:
Playwright's sync API runs an event loop in the main thread, which must be gone before
the asyncio tests that follow); each
test opens its pages in fresh browser contexts. Without Chromium or
Playwright the tests skip locally with the reason, and fail in CI
(``CI=true``), where ``.ci/run`` installs Chromium and the dev extras bring
Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import PASSWORD, Http, Pages, chromium_path, launch_chromium
from tests.conftest import unavailable
from tests.integration.procs import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser

USERS = (("judge", "JUDGE"), ("pet1", "STUDENT"), ("res1", "STUDENT"), ("admin", "ADMIN"))


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[dev]')")
    if chromium_path() is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        b = launch_chromium(pw)
    except Exception as exc:
        pw.stop()
        unavailable(f"Chromium did not start: {exc}")
        raise
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("browser-court"),
        env={
            "COURTROOM_LOG_LEVEL": "warning",
            # Boards re-read their schedule once a day: what reaches them is pushed.
            "COURTROOM_BOARD_RESCAN_MS": "86400000",
        },
    )
    for username, role in USERS:
        proc.create_user(username, role, PASSWORD)
    with proc:
        yield proc


@pytest.fixture(scope="package")
def http(server: ServerProcess) -> Http:
    return Http(server.base_url)


@pytest.fixture
def pages(browser: Browser, http: Http, server: ServerProcess) -> Iterator[Pages]:
    """Opens pages for one test; fails the test on any uncaught error in a page."""
    p = Pages(browser, http, server.base_url)
    try:
        yield p
    finally:
        p.close()
    assert not p.errors, f"uncaught errors in the pages: {p.errors}"
