"""schemathesis over the whole OpenAPI document, against a real server on SQLite and PostgreSQL.

Every built-in check runs (``--checks all``: no server error, status codes, content types
and headers documented, response bodies matching their schemas, invalid input refused,
valid input accepted, auth enforced, ...), plus two of this project's (st_hooks.py). The
server's log must hold no traceback afterwards.

Bounded for CI: a fixed seed and ``COURTROOM_ST_EXAMPLES`` (default 5) cases per operation
and phase; about 20 s per database here. For a longer hunt::

    COURTROOM_ST_EXAMPLES=200 COURTROOM_ST_SEED=$RANDOM .venv/bin/python -m pytest tests/api
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import scratch_database
from tests.integration.procs import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::ResourceWarning")]

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
EXAMPLES = os.environ.get("COURTROOM_ST_EXAMPLES", "5")
SEED = os.environ.get("COURTROOM_ST_SEED", "20261202")
PASSWORD = "password123"


def _call(base: str, method: str, path: str, token: str | None, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _seed(base: str) -> str:
    """An admin's token, and one of each resource so that id 1 names something."""
    login = _call(
        base, "POST", "/api/auth/login", None, {"username": "admin", "password": PASSWORD}
    )
    assert isinstance(login, dict)
    token = str(login["access_token"])
    t = "/api/tournaments/1"
    _call(base, "POST", "/api/tournaments", token, {"name": "Cup", "public_schedule": True})
    _call(base, "POST", t + "/events", token, {"name": "Moot"})
    _call(base, "POST", t + "/stages", token, {"event_id": 1, "name": "Rounds", "order": 1})
    for name in ("Acme", "Zenith"):
        _call(base, "POST", t + "/teams", token, {"name": name})
    _call(base, "POST", t + "/judges", token, {"name": "Hale"})
    _call(base, "POST", t + "/courts", token, {"label": "A", "number": 1})
    slot = {"court_id": 1, "start": "2026-03-02T09:00:00Z", "duration_minutes": 60}
    _call(base, "POST", t + "/slots", token, {"slots": [slot]})
    match = {"stage_id": 1, "petitioner_team_id": 1, "respondent_team_id": 2, "judge_ids": [1]}
    _call(base, "POST", t + "/matches", token, match)
    _call(base, "POST", t + "/schedule/versions", token)
    _call(base, "POST", t + "/schedule/versions/1/auto-assign", token)
    _call(base, "POST", "/api/session/create", token, {"title": "Acme v. Zenith"})
    return token


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    env: dict[str, str | None] = {"COURTROOM_GC_FREEZE": "0"}
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            env["DATABASE_URL"] = stack.enter_context(scratch_database("courtroom_st"))
        proc = ServerProcess(tmp_path / "data", env=env)
        proc.create_user("admin", "ADMIN", PASSWORD)
        with proc:
            yield proc


def test_schemathesis_finds_nothing(server: ServerProcess, tmp_path: Path) -> None:
    token = _seed(server.base_url)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        server.base_url + "/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--no-shrink",
        "--header",
        f"Authorization: Bearer {token}",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "st_hooks.py")}
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-20_000:]
    with urllib.request.urlopen(server.base_url + "/openapi.json", timeout=10) as r:
        paths = json.loads(r.read())["paths"]
    operations = sum(len(ops) for ops in paths.values())
    assert f"Tested: {operations}" in out, out[-3000:]  # every operation was exercised
    log = server.logs()
    assert "Traceback" not in log, log[-20_000:]
    assert " 500 " not in log, log[-20_000:]
