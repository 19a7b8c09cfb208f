"""Real server processes for integration tests.

:class:`ServerProcess` runs ``python -m server.node.cli serve`` (uvicorn) in a child
process on a loopback port, with its own data directory (SQLite there unless
``DATABASE_URL`` is given in ``env``), and can kill it (SIGKILL: a crash),
terminate it (SIGTERM: a graceful shutdown, clients get 1001) and start it
again on the same port and data directory. Its output goes to a log file that
is printed when a test fails to start it, and readable with :meth:`logs`.

Usage::

    with ServerProcess(tmp_path) as server:        # started and healthy
        server.create_user("judge", "JUDGE", "password123")
        ... server.base_url ...                     # http://127.0.0.1:PORT
        server.kill()                               # or server.terminate()
        server.start()                              # same port, same data

Options (all keyword-only): ``port`` (default: a free one), ``env`` (overrides
of the child's environment; a value of None removes the variable), ``app``
(the ASGI app path), ``extra_args`` (more `courtroom serve` options), ``ready_path``
(polled until it answers 200), ``startup_timeout``, ``log_path``.

The parent environment is inherited, minus ``DATABASE_URL`` and ``REDIS_URL``
(so a developer's settings never leak into a test), plus
``COURTROOM_DATA_DIR`` and a fixed ``COURTROOM_SECRET_KEY`` (tokens stay valid
across restarts).

:class:`TcpProxy` is an asyncio TCP relay in the test's own event loop, to
put between a client and a server and :meth:`~TcpProxy.block` while the
server moves on, so that "the client was away" does not depend on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["DEFAULT_SECRET_KEY", "ServerProcess", "TcpProxy", "free_port"]

DEFAULT_SECRET_KEY = "integration-test-secret-key-0123456789-abcdefghij"
_SCRUBBED = ("DATABASE_URL", "REDIS_URL")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0 and ask)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """One uvicorn child process; restartable on the same port and data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: Mapping[str, str | None] | None = None,
        app: str = "server.node.main:app",
        extra_args: Sequence[str] = (),
        ready_path: str = "/healthz",
        startup_timeout: float = 20.0,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.app = app
        self.extra_args = list(extra_args)
        self.ready_path = ready_path
        self.startup_timeout = startup_timeout
        self.log_path = log_path or self.data_dir / f"server-{self.port}.log"
        self.env = self._environment(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _environment(self, overrides: Mapping[str, str | None]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["COURTROOM_DATA_DIR"] = str(self.data_dir)
        env["COURTROOM_SECRET_KEY"] = DEFAULT_SECRET_KEY
        env.setdefault("COURTROOM_LOG_LEVEL", "info")
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle -----------------------------------------------------------

    def start(self, *, wait: bool = True) -> ServerProcess:
        """Start the server (again) and, unless ``wait`` is False, wait until it is healthy."""
        if self.running:
            raise RuntimeError("the server is running already")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        cmd = [
            sys.executable,
            "-m",
            "server.node.cli",
            "serve",
            "--app",
            self.app,
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Poll ``ready_path`` until it answers 200.

        Raises:
            RuntimeError: the process exited, or ``timeout`` passed; with the log's tail.
        """
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        url = self.base_url + self.ready_path
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"the server exited while starting:\n{self.logs()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server was not healthy in time:\n{self.logs()[-3000:]}")

    def kill(self) -> int:
        """SIGKILL, like a crash: no close frames, no cleanup. Returns the exit status."""
        return self._signal(signal.SIGKILL, 10.0)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, a graceful shutdown (clients get 1001); SIGKILL after ``timeout``."""
        return self._signal(signal.SIGTERM, timeout)

    def restart(self, *, graceful: bool = False) -> ServerProcess:
        """Stop (terminate if ``graceful``, else kill) and start again on the same port."""
        if graceful:
            self.terminate()
        else:
            self.kill()
        return self.start()

    def stop(self) -> None:
        """Terminate if running; the end of the ``with`` block calls this."""
        if self.running:
            self.terminate()

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        proc = self.proc
        if proc is None:
            raise RuntimeError("the server was never started")
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start() if not self.running else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------

    def logs(self) -> str:
        """Everything the server printed, across restarts."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cli(self, *args: str, input: str | None = None, timeout: float = 60.0) -> str:
        """Run ``python -m server.node.cli ARGS`` with this server's environment; returns stdout.

        Raises:
            subprocess.CalledProcessError: the command failed (its output attached).
        """
        done = subprocess.run(
            [sys.executable, "-m", "server.node.cli", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, done.args, output=done.stdout, stderr=done.stderr
            )
        return done.stdout

    def create_user(self, username: str, role: str, password: str) -> str:
        """``courtroom create-user USERNAME --role ROLE --password-stdin``; works while stopped."""
        return self.cli(
            "create-user", username, "--role", role, "--password-stdin", input=password + "\n"
        )


@contextlib.contextmanager
def judge_server(base: Path, password: str) -> Iterator[ServerProcess]:
    """A running server with a ``judge`` account; its log's tail printed if it died badly."""
    proc = ServerProcess(base)
    proc.create_user("judge", "JUDGE", password)
    with proc:
        yield proc
    if proc.proc is not None and proc.proc.returncode not in (0, -15):
        print(proc.logs()[-5000:])


class TcpProxy:
    """A loopback TCP relay you can cut, for "the client is away" scenarios.

    Bytes pass through unchanged (WebSocket close frames included). While
    :meth:`block`-ed, open relays are aborted (the client sees the connection
    drop, 1006) and new connections are reset at once; :meth:`unblock`
    restores the path. Use ``async with TcpProxy(server.port) as proxy`` and
    connect to ``proxy.base_url``.

    Args:
        upstream_port: the server's port.
        host: loopback address for both sides.
    """

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream_port = upstream_port
        self.host = host
        self.port = 0
        self.blocked = False
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.block()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._relays, return_exceptions=True)

    def block(self) -> None:
        """Drop every relayed connection and refuse new ones until :meth:`unblock`."""
        self.blocked = True
        for task in list(self._relays):
            task.cancel()

    def unblock(self) -> None:
        self.blocked = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
            except OSError:
                writer.transport.abort()
                return
            self.connections += 1
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                # Abort, not close: a cut must look like a lost network, no FIN handshake.
                up_writer.transport.abort()
                writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._relays.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()
