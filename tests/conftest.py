"""Shared fixtures: app factories over SQLite and PostgreSQL, users and tokens.

PostgreSQL and Redis are the real services on loopback. Locally a test that
needs one skips with the reason when it is down; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient

from server.common.auth import hash_password
from server.common.config import Settings
from server.http.app import create_app
from store import SessionStore, UserStore, migrate

PG_ADMIN_URL = os.environ.get("COURTROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("COURTROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "password123"


def unavailable(msg: str) -> NoReturn:
    """A real part a test needs is missing: skip locally, fail loudly in CI."""
    if IN_CI:
        pytest.fail(msg + "; CI must have it (see .ci/run)", pytrace=False)
    pytest.skip(msg)


def service_missing(what: str, host: str, port: int) -> None:
    """Skip locally, fail loudly in CI, when a real service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        unavailable(f"{what} is not reachable on {host}:{port} ({exc})")


@contextlib.contextmanager
def scratch_database(prefix: str = "courtroom_test") -> Iterator[str]:
    """A new PostgreSQL database on the shared server, dropped afterwards."""
    service_missing("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgres://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    with scratch_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated(pg_database: str) -> str:
    asyncio.run(migrate(pg_database))
    return pg_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'courtroom.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, not yet migrated: the migrations' tests move it
    up and down (PostgreSQL: a scratch database, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'courtroom.db'}"
    else:
        with scratch_database() as url:
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'courtroom.db'}"
    url: str = request.getfixturevalue("pg_migrated")
    return url


def make_settings(tmp_path: Path, database_url: str | None = None, **env: str) -> Settings:
    base = {
        "COURTROOM_DATA_DIR": str(tmp_path / "data"),
        "COURTROOM_SECRET_KEY": "test-secret-key-" + "x" * 32,
    }
    if database_url:
        base["DATABASE_URL"] = database_url
    base.update(env)
    return Settings.from_env(base)


USERS = (
    ("admin", "ADMIN"),
    ("judge", "JUDGE"),
    ("faculty", "FACULTY"),
    ("pet1", "STUDENT"),
    ("pet2", "STUDENT"),
    ("res1", "STUDENT"),
    ("res2", "STUDENT"),
    ("student", "STUDENT"),
)

_HASH = hash_password(PASSWORD)


async def seed_users(url: str) -> dict[str, int]:
    await migrate(url)
    store = SessionStore(url)
    users = UserStore(store)
    out: dict[str, int] = {}
    try:
        for name, role in USERS:
            existing = await users.by_username(name)
            user = existing or await users.create(name, _HASH, role, name.title())
            out[name] = int(user["id"])
    finally:
        await store.close()
    return out


class Court:
    """A running app with a test client, signed-in users and helpers."""

    def __init__(self, client: TestClient, user_ids: dict[str, int]) -> None:
        self.client = client
        self.user_ids = user_ids
        self._tokens: dict[str, str] = {}

    @property
    def services(self) -> Any:
        """The running app's services (store, hub, settings...)."""
        return self.client.app.state.services  # type: ignore[attr-defined]

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post(
                "/api/auth/login", data={"username": username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def h(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def post(self, path: str, user: str | None = "judge", **kw: Any) -> Any:
        return self.client.post(path, headers=self.h(user) if user else {}, **kw)

    def get(self, path: str, user: str | None = "judge", **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(user) if user else {}, **kw)

    def new_session(self, user: str = "judge", **body: Any) -> str:
        r = self.post("/api/session/create", user, json=body or {"title": "test"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def hello(
        self,
        ws: Any,
        *,
        user: str | None = None,
        as_: str = "observer",
        arrived: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send hello and return the welcome.

        An observer's welcome does not wait for its arrival to be logged; with
        ``arrived`` (the default) this also reads up to the observer's own
        ``OBSERVER_JOINED``, so a test starts from a settled log (not with
        ``resume_from``: the events after the welcome are the test's to read).
        """
        msg = {
            "type": "hello",
            "v": 1,
            "token": self.token(user) if user else None,
            "as": as_,
            **extra,
        }
        ws.send_json(msg)
        welcome: dict[str, Any] = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        # A resuming client reads its replay itself: nothing may be skipped.
        arrived = arrived and "resume_from" not in extra
        if arrived and as_ == "observer" and welcome["session"]["status"] != "completed":
            own_arrival(ws, welcome["you"]["observation_id"])
        return welcome


def own_arrival(ws: Any, observation_id: str) -> dict[str, Any]:
    """Read up to the ``OBSERVER_JOINED`` entry that names ``observation_id``.

    Events before it are dropped (they are what a welcome that waited for the
    arrival would have had in its snapshot); other frames (ticks, replies) are
    handed back to the test's next ``receive``.
    """
    import json

    kept: list[Any] = []
    for _ in range(1000):
        raw = ws.receive()
        msg: dict[str, Any] = json.loads(raw["text"]) if raw.get("text") else {}
        if msg.get("type") == "event":
            if (
                msg["event_type"] == "OBSERVER_JOINED"
                and observation_id in msg["details"]["observation_ids"]
            ):
                break
            continue
        kept.append(raw)
    else:
        raise AssertionError("the observer's arrival was never logged")
    if kept:
        original = ws.receive

        def receive() -> Any:
            return kept.pop(0) if kept else original()

        ws.receive = receive
    return msg


@pytest.fixture
def court_factory(tmp_path: Path) -> Iterator[Callable[..., Court]]:
    clients: list[TestClient] = []

    def make(database_url: str | None = None, *, clock: Any = None, **env: str) -> Court:
        settings = make_settings(tmp_path, database_url, **env)
        settings.ensure_data_dir()
        ids = asyncio.run(seed_users(settings.database_url))
        client = TestClient(create_app(settings, clock=clock, timer_max_sleep_ms=20))
        client.__enter__()
        clients.append(client)
        return Court(client, ids)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def court(court_factory: Callable[..., Court]) -> Court:
    return court_factory()
