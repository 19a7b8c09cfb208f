"""A private PostgreSQL cluster (initdb + pg_ctl in a temporary directory) that a test may stop.

PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` system user (``runuser``). The machine's shared server is never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import unavailable
from tests.integration.procs import free_port


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PrivatePostgres:
    def __init__(self, workdir: Path) -> None:
        self.initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if self.initdb is None or self.pg_ctl is None:
            unavailable("initdb/pg_ctl are not installed")
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        # pytest's own temporary directories are private to root; the cluster's
        # user must reach its files, so it gets a directory of its own.
        self.root = Path(tempfile.mkdtemp(prefix="courtroom-pg-")) if self._as_root else workdir
        self.root.chmod(0o755)
        self.dir = self.root / "pgdata"
        self.sock = self.root / "pgsock"
        self.log = self.root / "pg.log"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        user = "postgres" if self._as_root else os.environ.get("USER", "postgres")
        return f"postgresql://{user}@127.0.0.1:{self.port}/postgres"

    def init(self) -> PrivatePostgres:
        for d in (self.dir, self.sock):
            d.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.root, "postgres")
            for d in (self.dir, self.sock):
                shutil.chown(d, "postgres")
        self.log.touch()
        if self._as_root:
            shutil.chown(self.log, "postgres")
        assert self.initdb is not None
        self._run(
            self.initdb,
            "-D",
            str(self.dir),
            "-A",
            "trust",
            "-U",
            "postgres" if self._as_root else os.environ.get("USER", "postgres"),
        )
        return self

    def start(self) -> None:
        assert self.pg_ctl is not None
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.dir), "-l", str(self.log), "-o", opts, "-w", "start")
        end = time.monotonic() + 20
        import socket

        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private PostgreSQL did not start")

    def stop(self, mode: str = "immediate") -> None:
        assert self.pg_ctl is not None
        self._run(self.pg_ctl, "-D", str(self.dir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop if running and delete the cluster's files."""
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
