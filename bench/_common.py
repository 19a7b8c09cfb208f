"""Helpers shared by the benchmark scripts (not a test module, not installed).

Benchmarks print figures and compare them with a baseline measured in the same
run. They never assert on speed.

Besides the tables, timing and noise watching every script uses, the plumbing
of the multi-process benchmarks (bench_fanout, bench_ticks, bench_cluster):
the courtroom server as a process (``Node``) and its HTTP API (``Api``), a
plain ``websockets`` baseline server (``Baseline``), client processes driven
by one JSON command a line (``client_role`` on their side, ``ClientProc`` on
the driver's), per-process CPU from /proc, and latency percentiles (``Dist``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.asyncio.server import ServerConnection

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # run as ``python bench/x.py`` from anywhere
    sys.path.insert(0, str(ROOT))
PY = sys.executable

PG_ADMIN_URL = os.environ.get("COURTROOM_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def machine(when: bool = True) -> str:
    """``<cores> cores, <model>, Python x.y`` and (``when``) the UTC time, for a run's header."""
    model = platform.processor() or ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    out = f"{os.cpu_count()} cores, {model or 'unknown CPU'}, Python {platform.python_version()}"
    return f"{out}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC" if when else out


def install_loop(name: str) -> str:
    """Use uvloop (what uvicorn picks when installed) unless ``asyncio`` is asked for."""
    if name == "uvloop":
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            return "uvloop"
        except ImportError:
            pass
    return "asyncio"


@dataclass
class Row:
    name: str
    count: int
    seconds: float
    unit: str = "ops/s"
    baseline: str | None = None  # name of the row this one is compared with
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def print_table(title: str, rows: Sequence[Row]) -> None:
    by_name = {r.name: r for r in rows}
    w = max(len(r.name) for r in rows)
    print()
    print(title)
    head = f"{'case':<{w}}  {'count':>9}  {'seconds':>8}  {'rate':>12}  {'vs baseline':>11}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = ""
        if r.baseline and r.baseline in by_name:
            ratio = f"{r.rate / by_name[r.baseline].rate:.3f}x"
        print(
            f"{r.name:<{w}}  {r.count:>9}  {r.seconds:>8.3f}  {r.rate:>12,.0f}"
            f"  {ratio:>11}  {r.note}".rstrip()
        )
    print(f"(rate = count / seconds, in {rows[0].unit})")


async def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


@contextlib.asynccontextmanager
async def scratch_pg(prefix: str = "bench_") -> AsyncIterator[str | None]:
    """A fresh ``<prefix><random>`` database on the loopback PostgreSQL, dropped afterwards.

    Yields None (and says why) when PostgreSQL is not reachable.
    """
    import asyncpg

    admin = PG_ADMIN_URL.replace("postgresql://", "postgres://")
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); skipping its figures")
        yield None
        return
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) from /proc/<pid>/stat; None when it is gone."""
    try:
        head, _, rest = Path("/proc", str(pid), "stat").read_text().rpartition(")")
    except OSError:
        return None
    return head.partition("(")[2] or "?", rest.split()


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` ((0, 0) when it is gone)."""
    st = _stat(pid)
    if st is None:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(st[1][11]) / tick, int(st[1][12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 when it is gone)."""
    return sum(cpu_times(pid))


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, command name, CPU seconds) for every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[int, str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or (st := _stat(entry.name)) is None:
            continue
        comm, f = st
        out[int(entry.name)] = (int(f[1]), comm, (int(f[11]) + int(f[12])) / tick)
    return out


def tree_cpu_seconds(root: int | None = None) -> float:
    """User + system CPU seconds of the live descendants of ``root`` (default: this process).

    A browser's renderers are its descendants: what a page's work costs in CPU,
    whatever share of a core the machine let it have.
    """
    table = _proc_table()
    ours = _descendants(table, os.getpid() if root is None else root)
    return sum(table[pid][2] for pid in ours if pid in table)


def _descendants(table: dict[int, tuple[int, str, float]], root: int) -> set[int]:
    """``root`` and every process below it in ``table`` (pid -> (ppid, ...))."""
    ours = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in ours and pid not in ours:
                ours.add(pid)
                grew = True
    return ours


def _machine_busy() -> float:
    """CPU seconds the machine spent in user, nice and system time (/proc/stat)."""
    try:
        f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    except OSError:
        return 0.0
    return sum(int(x) for x in f) / os.sysconf("SC_CLK_TCK")


class Neighbours:
    """CPU used during a window by processes outside this benchmark.

    Other work on the machine (a test run, a build) skews every figure here;
    each benchmark reports it so a reader can tell a clean run from a noisy
    one. Our own process tree, kernel threads, and the PostgreSQL server
    (which the PostgreSQL figures include by design) are not counted. The
    total comes from /proc/stat (user + nice + system), so processes that
    start and end inside the window count too; the names only from those
    still running at the end.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._t0 = time.monotonic()
        self._start = _proc_table()
        self._stat0 = _machine_busy()

    def busy(self) -> tuple[float, str]:
        """(cores busy elsewhere on average, the top commands) since the start."""
        end = _proc_table()
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        ours = _descendants(end, os.getpid())
        used: dict[str, float] = {}
        excluded = 0.0
        for pid, (ppid, comm, cpu) in end.items():
            before = self._start.get(pid)
            delta = cpu - (before[2] if before and before[1] == comm else 0.0)
            if pid in ours or ppid == 2 or pid == 2 or comm in ("postgres", "postmaster"):
                excluded += delta  # us, kernel threads (our network load wakes them), PostgreSQL
            elif delta > 0:
                used[comm] = used.get(comm, 0.0) + delta
        machine = _machine_busy() - self._stat0 - excluded
        total = max(sum(used.values()), machine) / elapsed
        top = ", ".join(
            f"{c} {s / elapsed:.2f}" for c, s in sorted(used.items(), key=lambda x: -x[1])[:3]
        )
        return total, top

    def line(self) -> str:
        total, top = self.busy()
        return f"other processes used {total:.2f} cores on average ({top or 'none'})"


def wait_for_quiet(
    max_seconds: float, threshold: float = 0.1, window: float = 3.0, say: bool = True
) -> None:
    """Wait (up to ``max_seconds``) until other processes use under ``threshold`` cores."""
    if max_seconds <= 0:
        return
    deadline = time.monotonic() + max_seconds
    while True:
        n = Neighbours()
        time.sleep(window)
        total, top = n.busy()
        if total < threshold:
            if say:
                print(f"machine quiet (other processes {total:.2f} cores); starting")
            return
        if time.monotonic() > deadline:
            print(
                f"machine still busy after {max_seconds:.0f} s ({total:.2f} cores: {top}); starting"
            )
            return


def add_quiet_option(ap: Any) -> None:
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="on a shared machine: wait up to SECONDS for other processes to go idle first",
    )


NOISE_CORES = 0.15  # other processes above this during a case: repeat it


async def clean_case(
    name: str,
    run: Callable[[], Any],
    *,
    unit: str = "ops/s",
    baseline: str | None = None,
    note: str = "",
    repeat: int = 1,
    retries: int = 4,
) -> Row:
    """Time ``await run()`` (which returns ``(count, seconds)``) ``repeat`` times and
    keep the median run. A run during which other processes were busy is repeated
    (up to ``retries`` times; after that it is kept and the row marked NOISY)."""
    runs: list[tuple[int, float]] = []
    noisy = 0.0
    for _ in range(repeat):
        for attempt in range(retries + 1):
            watch = Neighbours()
            count, seconds = await run()
            others, top = watch.busy()
            # Under half a second the CPU counters (10 ms ticks) cannot tell; the
            # median of several runs has to do.
            if others <= NOISE_CORES or seconds < 0.5:
                break
            print(f"  {name}: other processes used {others:.2f} cores ({top})", end="")
            if attempt == retries:
                print("; keeping it, marked NOISY")
                noisy = max(noisy, others)
                break
            print("; repeating it when the machine is quiet")
            await asyncio.to_thread(wait_for_quiet, 300, NOISE_CORES / 2, 3.0, False)
        runs.append((count, seconds))
    runs.sort(key=lambda r: r[0] / r[1])
    count, seconds = runs[len(runs) // 2]
    if repeat > 1:
        lo, hi = (c / s for c, s in (runs[0], runs[-1]))
        note = f"median of {repeat}, range {lo:,.0f}-{hi:,.0f} {note}".strip()
    if noisy:
        note = f"{note} NOISY({noisy:.2f} cores elsewhere)".strip()
    return Row(name, count, seconds, unit=unit, baseline=baseline, note=note)


# --------------------------------------------------------------------------
# processes, sockets, clocks
# --------------------------------------------------------------------------


def raise_nofile(want: int = 20_000) -> int:
    """Raise this process's open files limit towards ``want``; returns the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def now_ms() -> float:
    """The wall clock in ms (every process on this machine reads the same one)."""
    return time.time() * 1000.0


def profile_on_signals(path: str) -> None:
    """cProfile this process while switched on: SIGUSR1 starts collecting, SIGUSR2
    stops and writes everything collected so far to ``path`` (``python -m pstats``)."""
    import cProfile

    prof = cProfile.Profile()

    def on(_sig: int, _frame: Any) -> None:
        prof.enable()

    def off(_sig: int, _frame: Any) -> None:
        prof.disable()
        prof.dump_stats(path)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)


# --------------------------------------------------------------------------
# latency samples and column tables
# --------------------------------------------------------------------------


@dataclass
class Dist:
    """Latency samples in ms; nearest-rank percentiles."""

    xs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.xs.sort()

    def q(self, p: float) -> float:
        if not self.xs:
            return math.nan
        return self.xs[min(len(self.xs) - 1, max(0, math.ceil(p * len(self.xs)) - 1))]

    @property
    def n(self) -> int:
        return len(self.xs)

    @property
    def p50(self) -> float:
        return self.q(0.50)

    @property
    def p99(self) -> float:
        return self.q(0.99)

    @property
    def max(self) -> float:
        return self.xs[-1] if self.xs else math.nan

    def cells(self) -> list[str]:
        """Table cells: samples, p50, p99, max."""
        return [f"{self.n:,}", fmt(self.p50), fmt(self.p99), fmt(self.max)]

    def vs(self, base: Dist) -> list[str]:
        """``cells()`` and, last, the ratios to ``base``'s p50 and p99."""
        return [*self.cells(), f"{ratio(self.p50, base.p50)} / {ratio(self.p99, base.p99)}"]

    @staticmethod
    def merge(parts: Iterable[Sequence[float]]) -> Dist:
        out: list[float] = []
        for p in parts:
            out.extend(p)
        return Dist(out)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 and not math.isnan(a) and not math.isnan(b) else "-"


def fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:,.1f}"


def print_columns(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of preformatted cells: the first column left-aligned, the others right."""
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print()
    print(title)
    top = line(head)
    print(top)
    print("-" * len(top))
    for r in rows:
        print(line(r))


# --------------------------------------------------------------------------
# client processes: one JSON command a line on stdin, JSON replies on stdout
# --------------------------------------------------------------------------


def reply(msg: dict[str, Any]) -> None:
    """A client process's answer to its driver (one line on stdout)."""
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def client_role(handle: Callable[[dict[str, Any]], Awaitable[bool]]) -> NoReturn:
    """A client process's main loop: each command read from stdin goes to ``handle``
    (which answers with ``reply``) until it returns False or stdin closes."""
    raise_nofile()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if not await handle(json.loads(line)):
            break
    sys.stdout.flush()
    os._exit(0)  # do not wait for thousands of closing handshakes


class ClientProc:
    """The driver's end of one client process (a script's ``--role clients``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.pump = asyncio.create_task(self._pump())

    @classmethod
    async def spawn(cls, script: str, *args: str) -> ClientProc:
        """Start ``bench/<script> --role clients <args>``."""
        proc = await asyncio.create_subprocess_exec(
            PY,
            str(BENCH / script),
            "--role",
            "clients",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=2**26,
        )
        return cls(proc)

    async def _pump(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.inbox.append(json.loads(line))
            self.arrived.set()

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def wait(self, op: str, timeout: float, tag: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.inbox:
                if m["op"] == op and (tag is None or m.get("tag") == tag):
                    self.inbox.remove(m)
                    return m
            if self.proc.returncode is not None or self.pump.done():
                raise RuntimeError(f"client process {self.proc.pid} exited")
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(op)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


async def stop_clients(procs: Sequence[ClientProc]) -> None:
    for c in procs:
        with contextlib.suppress(Exception):
            await c.send(op="exit")
    for c in procs:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.proc.wait(), 10)
        if c.proc.returncode is None:
            c.proc.kill()
            await c.proc.wait()


# --------------------------------------------------------------------------
# the baseline: a plain websockets server
# --------------------------------------------------------------------------


async def hold_observer(ws: ServerConnection, clients: set[ServerConnection]) -> None:
    """A baseline server's observer: read its hello, welcome it, keep it in ``clients``
    (what the server broadcasts to) until it closes."""
    await ws.recv()  # hello
    await ws.send('{"type":"welcome"}')
    clients.add(ws)
    try:
        await ws.wait_closed()
    finally:
        clients.discard(ws)


class Baseline:
    """A baseline server process (``bench/<script> --role baseline-server``), and the
    control connection (path ``/control``) that tells it what to broadcast."""

    def __init__(self, script: str, name: str = "baseline", args: Sequence[str] = ()) -> None:
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PY, str(BENCH / script), "--role", "baseline-server", "--port", str(self.port)]
            + list(args),
            cwd=ROOT,
        )
        self.control: ClientConnection | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        for _ in range(300):
            try:
                self.control = await connect(
                    f"ws://127.0.0.1:{self.port}/control",
                    compression=None,
                    max_size=None,
                    proxy=None,
                )
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up")

    async def cmd(self, msg: str) -> None:
        """Send one control message and wait for its ack."""
        assert self.control is not None
        await self.control.send(msg)
        await self.control.recv()

    async def stop(self) -> None:
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# the courtroom server: its process, its users, its HTTP API
# --------------------------------------------------------------------------

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
    """``server.cli create-user`` for each (name, role), all with ``PASSWORD``."""
    for name, role in users:
        subprocess.run(
            [PY, "-m", "server.cli", "create-user", name, "--role", role, "--password-stdin"],
            input=(PASSWORD + "\n").encode(),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )


class Node:
    """One courtroom server process on a free port: ``python -m server.cli serve``, or
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
            cmd = [PY, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
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
