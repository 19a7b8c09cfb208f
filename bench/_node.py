"""The courtroom server as a benchmark drives it: its environment, its users, its process
(``Node``) and its HTTP API (``Api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from _paths import PY, ROOT
from _procs import free_port

PASSWORD = "bench-password-123"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a courtroom server: this one without the server's own
    settings (``COURTROOM_*``, ``FEATURE_*``, ``DATABASE_URL``, ``REDIS_URL``), then
    the embedded default in ``data_dir``, then ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL")
        and not k.startswith("FEATURE_")
        and not k.startswith("COURTROOM_")
    }
    env.update(
        COURTROOM_DATA_DIR=str(data_dir),
        COURTROOM_SECRET_KEY="bench-" + secrets.token_urlsafe(48),
        COURTROOM_LOG_LEVEL="warning",
        COURTROOM_TICK_MS="1000",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def create_users(env: dict[str, str], users: Sequence[tuple[str, str]]) -> None:
    """``server.node.cli create-user`` for each (name, role), all with ``PASSWORD``."""
    for name, role in users:
        subprocess.run(
            [PY, "-m", "server.node.cli", "create-user", name, "--role", role, "--password-stdin"],
            input=(PASSWORD + "\n").encode(),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )


class Node:
    """One courtroom server process on a free port: ``python -m server.node.cli serve``, or
    ``python <wrapper...> --port N`` (the server with diagnostics). Its output goes to
    ``<log_dir>/<name>.log``."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, wrapper: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.wrapper = list(wrapper)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, session_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/sessions/{session_id}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        if self.wrapper:
            cmd = [PY, *self.wrapper, "--port", str(self.port)]
        else:
            cmd = [
                PY,
                "-m",
                "server.node.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_healthy(self, timeout: float = 60) -> None:
        import httpx2 as httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as h:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await h.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} was not healthy in {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


class Api:
    """The courtroom's HTTP API, as the users made by ``create_users``."""

    def __init__(self, base_url: str) -> None:
        import httpx2 as httpx

        self.http = httpx.AsyncClient(base_url=base_url, timeout=120)
        self.tokens: dict[str, str] = {}

    async def login(self, user: str) -> None:
        r = await self.http.post("/api/auth/login", data={"username": user, "password": PASSWORD})
        r.raise_for_status()
        self.tokens[user] = str(r.json()["access_token"])

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def call(self, method: str, path: str, user: str = "judge", **kw: Any) -> Any:
        r = await self.http.request(method, path, headers=self.auth(user), **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    async def close(self) -> None:
        await self.http.aclose()
