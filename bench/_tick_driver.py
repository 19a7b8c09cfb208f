"""The driver's side of bench_ticks and bench_cluster: client pools, the clock session, reports.

``ClientPool`` spawns and commands the client processes (``_tick_clients``);
``clock_session`` and ``run_clock`` set up, over HTTP, a session whose hub
ticks every observer each second; the instrument helpers read what
``--role server`` (``_tick_servers``) recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    Api,
    ClientProc,
    Dist,
    Neighbours,
    fmt,
    now_ms,
    stop_clients,
)


def others_line(watch: Neighbours) -> str:
    """What other processes on the machine did while ``watch`` ran (a shared machine is noisy)."""
    total, top = watch.busy()
    return (
        f"other processes on the machine used {total:.2f} cores on average during the run"
        f" ({top or 'none named'})"
    )


class ClientPool:
    """``n`` client processes; a set of connections is spread evenly over them."""

    def __init__(self, n: int, impl: str = "raw") -> None:
        self.n = n
        self.impl = impl
        self.procs: list[ClientProc] = []
        self.expected: list[int] = []  # events of the current tag each process waits for

    async def start(self) -> None:
        for _ in range(self.n):
            self.procs.append(await ClientProc.spawn("bench_ticks.py", "--client", self.impl))
        self.expected = [0] * self.n

    @property
    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.procs]

    async def ask(
        self, op: str, reply: str, timeout: float = 120, **kw: Any
    ) -> list[dict[str, Any]]:
        for c in self.procs:
            await c.send(op=op, **kw)
        return [await c.wait(reply, timeout) for c in self.procs]

    async def connect(
        self, set_name: str, url: str, n: int, concurrency: int = 64
    ) -> tuple[int, int, float]:
        """Open ``n`` more observers; returns (connected, failed, seconds)."""
        return await self.connect_all([(set_name, url, n)], concurrency)

    async def connect_all(
        self, targets: Sequence[tuple[str, str, int]], concurrency: int = 64
    ) -> tuple[int, int, float]:
        """Open ``n`` more observers on each (set, url, n) at once, every process
        interleaving its share of each; returns (connected, failed, seconds until the
        last is welcomed)."""
        if sum(n for _, _, n in targets) <= 0:
            return 0, 0, 0.0
        t0 = time.monotonic()
        for i, c in enumerate(self.procs):
            share = [[s, url, n // self.n + (1 if i < n % self.n else 0)] for s, url, n in targets]
            await c.send(op="connect", targets=share, concurrency=concurrency)
        got = [await c.wait("connected", 1800) for c in self.procs]
        seconds = time.monotonic() - t0
        for g in got:
            if g["errors"]:
                print(f"  connect errors ({', '.join(s for s, _, _ in targets)}): {g['errors']}")
        return sum(g["n"] for g in got), sum(g["failed"] for g in got), seconds

    async def close(self, sets: list[str]) -> int:
        """Drop every connection of ``sets`` (no closing handshake); returns how many."""
        return sum(r["n"] for r in await self.ask("close", "closed", sets=sets))

    async def welcomes(self, set_name: str) -> list[str]:
        """The observation ids the connections of ``set_name`` were welcomed with."""
        return [i for r in await self.ask("welcomes", "welcomes", set=set_name) for i in r["ids"]]

    async def alive(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in await self.ask("alive", "alive"):
            for k, v in r["sets"].items():
                out[k] = out.get(k, 0) + v
        return out

    async def ticks(
        self, windows: dict[str, list[tuple[float, float]]], tick_ms: int
    ) -> tuple[dict[str, Dist], dict[str, list[int]]]:
        replies = await self.ask(
            "ticks",
            "ticks",
            windows={k: [list(w) for w in v] for k, v in windows.items()},
            tick_ms=tick_ms,
        )
        dists = {k: Dist.merge(r["lat"][k] for r in replies) for k in windows}
        stamps = {k: sorted({s for r in replies for s in r["stamps"][k]}) for k in windows}
        return dists, stamps

    async def arm(self) -> None:
        await self.ask("arm", "armed")

    async def pause_report(
        self, sets: list[str], t0: float, timeout: float = 30
    ) -> tuple[dict[str, list[float]], int]:
        replies = await self.ask(
            "pause_report", "pause_report", timeout=timeout + 30, sets=sets, t0=t0
        )
        lat = {n: [x for r in replies for x in r["lat"][n]] for n in sets}
        return lat, sum(v for r in replies for v in r["missing"].values())

    async def tag(self, tag: str, sets: list[str], k: int = 1, keep: bool = False) -> int:
        """Count (and with ``keep`` record) the events of type ``tag`` on ``sets``."""
        replies = await self.ask("tag", "tagged", tag=tag, sets=sets, k=k, keep=keep)
        self.expected = [int(r["expected"]) for r in replies]
        return sum(self.expected)

    async def wait_done(self, tag: str, timeout: float) -> tuple[float, str | None, bool]:
        """(the last receive time over all processes, a sample frame, complete?)"""
        t_last, sample, complete = 0.0, None, True
        deadline = time.monotonic() + timeout
        for c, expected in zip(self.procs, self.expected, strict=True):
            if expected == 0:
                continue
            try:
                d = await c.wait("done", max(0.1, deadline - time.monotonic()), tag)
            except TimeoutError:
                complete = False
                continue
            t_last = max(t_last, float(d["t_last"]))
            sample = sample or d["sample"]
        return t_last, sample, complete

    async def events(self, sets: list[str], sends: dict[int, float]) -> tuple[dict[str, Dist], int]:
        replies = await self.ask(
            "events", "events", sets=sets, sends={str(k): v for k, v in sends.items()}
        )
        dists = {n: Dist.merge(r["lat"][n] for r in replies) for n in sets}
        return dists, sum(v for r in replies for v in r["missing"].values())

    async def stop(self) -> None:
        await stop_clients(self.procs)


@dataclass
class ClockSession:
    """A started session with a round whose one long turn is ready to start."""

    id: str
    turn_id: str
    running: bool = False


async def clock_session(api: Api, title: str, seconds: int = 3600) -> ClockSession:
    """Judge creates and starts a session; ``pet1`` joins as petitioner #1; a round
    with one turn of ``seconds`` is created and started (the turn itself is not)."""
    sid = str((await api.call("POST", "/api/session/create", json={"title": title}))["id"])
    await api.call("POST", f"/api/session/{sid}/start")
    await api.call(
        "POST", f"/api/session/{sid}/join", "pet1", json={"role": "petitioner", "speaker": 1}
    )
    me = await api.call("GET", "/api/auth/me", "pet1")
    body = {
        "session_id": sid,
        "turns": [{"participant_id": str(me["user_id"]), "allowed_seconds": seconds}],
    }
    rnd = await api.call("POST", "/api/classroom/rounds", json=body)
    await api.call("POST", f"/api/classroom/rounds/{rnd['id']}/start")
    return ClockSession(sid, str(rnd["turns"][0]["id"]))


async def run_clock(api: Api, s: ClockSession) -> float:
    """Start the turn (first time) or resume the session; returns when it answered (ms)."""
    if not s.running:
        await api.call("POST", f"/api/classroom/turns/{s.turn_id}/start", "pet1")
        s.running = True
    else:
        await api.call("POST", f"/api/session/{s.id}/resume")
    return now_ms()


async def settle(api: Api, sid: str, quiet_s: float = 1.5, timeout: float = 300) -> int:
    """Wait until the session's head stops moving (the join storm is logged); returns it."""
    deadline = time.monotonic() + timeout
    head, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        h = int((await api.call("GET", f"/api/session/{sid}"))["head"]["sequence_number"])
        if h != head:
            head, since = h, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        await asyncio.sleep(0.25)
    return head


async def sleep_ticks(n: int, tick_ms: int) -> None:
    """Sleep through ``n`` whole tick boundaries, ending mid-interval (0.4 of a tick after)."""
    t = now_ms()
    nxt = (t // tick_ms + 1) * tick_ms
    await asyncio.sleep((nxt + (n - 1) * tick_ms + 0.4 * tick_ms - t) / 1000)


def instrument_row(path: Path, windows: Sequence[tuple[float, float]]) -> list[str]:
    """Cells for one server's instrument file within ``windows`` (wall ms): ticks pushed,
    push p50 and max (ms), then per GC generation its rate and cost, and its longest pause."""
    ticks: list[tuple[float, float]] = []
    gcs: list[tuple[float, float, int]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            f = line.split()
            if f[0] == "tick":
                ticks.append((float(f[1]), float(f[2])))
            elif f[0] == "gc":
                gcs.append((float(f[1]), float(f[2]), int(f[3])))

    def inside(t: float) -> bool:
        return any(a < t < b for a, b in windows)

    push = Dist([ms for t, ms in ticks if inside(t)])
    secs = max(sum(b - a for a, b in windows) / 1000, 1e-9)
    row = [f"{push.n}", fmt(push.p50), fmt(push.max)]
    for gen in (0, 1, 2):
        g = [ms for t, ms, gn in gcs if gn == gen and inside(t)]
        row.append(f"{len(g) / secs:.1f}/s, {sum(g) / secs:.1f} ms/s")
        row.append(fmt(max(g)) if g else "-")
    return row


INSTRUMENT_HEAD = ["ticks", "push p50", "push max"] + [
    x for g in (0, 1, 2) for x in (f"gen{g} rate, cost", f"gen{g} max")
]


INSTRUMENT_TITLE = (
    "server instrumentation: Hub.tick_all = the synchronous push of one tick into every "
    "outbound slot (ms); GC collections per generation (rate, time per second, longest ms)"
)


def gc_freeze_env(args: argparse.Namespace) -> dict[str, str]:
    """The server's environment for ``--no-gc-freeze`` (and says so), else nothing."""
    if not args.no_gc_freeze:
        return {}
    print("COURTROOM_GC_FREEZE=0: no heap freezing in the courtroom server(s)")
    return {"COURTROOM_GC_FREEZE": "0"}
