"""Helpers shared by the benchmark scripts (not a test module, not installed).

Benchmarks print figures and compare them with a baseline measured in the same
run. They never assert on speed.

Here: the tables, timing and noise watching every script uses (per-process
CPU from /proc, ``Neighbours``, ``clean_case``). The plumbing of the
multi-process benchmarks (bench_fanout, bench_ticks, bench_cluster) lives
beside it and is re-exported, so every script imports from ``_common`` alone:
``_paths`` (where things are; puts the repository on ``sys.path``), ``_procs``
(sockets, clocks, client processes driven by one JSON command a line, the
plain ``websockets`` baseline server), ``_node`` (the courtroom server as a
process, ``Node``, and its HTTP API, ``Api``) and ``_dist`` (latency
percentiles, ``Dist``, and column tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


from _dist import Dist, fmt, print_columns, ratio
from _node import PASSWORD, Api, Node, create_users, server_env
from _paths import BENCH, PG_ADMIN_URL, PY, ROOT
from _procs import (
    Baseline,
    ClientProc,
    client_role,
    free_port,
    hold_observer,
    now_ms,
    profile_on_signals,
    raise_nofile,
    reply,
    stop_clients,
)

__all__ = [
    "BENCH",
    "NOISE_CORES",
    "PASSWORD",
    "PG_ADMIN_URL",
    "PY",
    "ROOT",
    "Api",
    "Baseline",
    "ClientProc",
    "Dist",
    "Neighbours",
    "Node",
    "Row",
    "add_quiet_option",
    "clean_case",
    "client_role",
    "cpu_seconds",
    "cpu_times",
    "create_users",
    "fmt",
    "free_port",
    "hold_observer",
    "install_loop",
    "machine",
    "now_ms",
    "print_columns",
    "print_table",
    "profile_on_signals",
    "raise_nofile",
    "ratio",
    "reply",
    "scratch_pg",
    "server_env",
    "stop_clients",
    "timed",
    "wait_for_quiet",
]


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


def cpu_by_name(names: Sequence[str]) -> dict[int, float]:
    """pid -> CPU seconds of every process whose command name is one of ``names``
    (PostgreSQL's server and backends: "postgres")."""
    return {pid: cpu for pid, (_, comm, cpu) in _proc_table().items() if comm in names}


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds the processes of ``now`` used since ``before`` (a new one: all of it).

    A process that ended in between is not counted: read ``now`` before closing
    the connections whose backends are being measured.
    """
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


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
