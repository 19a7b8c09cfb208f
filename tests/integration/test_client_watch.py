"""``courtroom-client watch`` against a real server: names, not user ids, and how to stop."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from tests.integration.procs import ServerProcess

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("watch"))
    for user, role, name in (("judge", "JUDGE", "Judge Judy Hale"), ("pet1", "STUDENT", "Priya P")):
        proc.cli(
            "create-user",
            user,
            "--role",
            role,
            "--name",
            name,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
    with proc:
        yield proc


def test_watch_names_the_actors(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:

        def auth(user: str) -> dict[str, str]:
            r = http.post("/api/auth/login", data={"username": user, "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        judge, pet = auth("judge"), auth("pet1")
        me = http.get("/api/auth/me", headers=judge).json()
        sid = http.post("/api/session/create", json={"title": "names"}, headers=judge).json()["id"]
        for who, body in ((judge, {"role": "judge"}), (pet, {"role": "petitioner", "speaker": 1})):
            r = http.post(f"/api/session/{sid}/join", json=body, headers=who)
            assert r.status_code == 200, r.text
        assert http.post(f"/api/session/{sid}/start", headers=judge).status_code == 200

    done = subprocess.run(
        [sys.executable, "-m", "clients", "watch", server.base_url, sid, "--count", "4"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[2] for line in lines] == [
        "SESSION_CREATED",
        "PARTICIPANT_JOINED",
        "PARTICIPANT_JOINED",
        "SESSION_STARTED",
    ]
    assert " by Judge Judy Hale " in lines[0] and " by Judge Judy Hale " in lines[3]
    assert " by Priya P " in lines[2]
    assert not any(f" by {me['user_id']} " in line or " by user " in line for line in lines)
    # It says how to stop it, before anything else.
    first = done.stderr.splitlines()[0]
    assert first == f"-- watching {sid}; stops after --count/--until or on Ctrl-C"
    assert done.stderr.splitlines()[-1].endswith("chain verified")
