"""The live board's cost: one tournament channel over 64 running courts, beside one session channel.

    .venv/bin/python bench/bench_board.py [--quick] [--courts 64] [--subscribers 50]
        [--seconds 10] [--rounds 2]

Processes: the courtroom server (``python -m server.node.cli serve``, the real app on its
embedded default, ``COURTROOM_TICK_MS=1000``) and this driver, which arranges the day
over HTTP and holds every client socket (``websockets`` asyncio client; the driver's own
CPU is not counted).

The day: a tournament with ``--courts`` courts, one 60-minute slot each starting now and
one match per court, auto-assigned; a session opened for every match, started, a student
seated, a one-turn round of 3,600 s started and its turn running. Every court's clock runs.

Cases, alternated ``--rounds`` times, each measured over ``--seconds`` of steady state
(after 2 s of settling):

* ``session``: ``--subscribers`` observers of ONE of those sessions (the session channel,
  one tick a second each) — the baseline;
* ``board``: ``--subscribers`` boards of the tournament (``/ws/tournaments/{id}``), which
  carry all ``--courts`` running clocks.

Measured: the server's CPU seconds per second (utime + stime of its process from
``/proc``), and the frames each client received per second. The issue's targets: board
CPU <= 1.5x session CPU, and <= 2 frames/s to a board whatever the number of courts.
A JSON line per case: ``{"bench": "board", "case": ..., "cpu_per_s": ..., ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    Api,
    Node,
    cpu_seconds,
    create_users,
    machine,
    print_columns,
    ratio,
    server_env,
)
from websockets.asyncio.client import ClientConnection, connect


async def arrange(api: Api, courts: int) -> tuple[int, str, list[str]]:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    day = now.date().isoformat()
    start = now.strftime("%Y-%m-%dT%H:%M:00Z")
    t = await api.call("POST", "/api/tournaments", "admin", json={"name": "Bench Cup"})
    base = f"/api/tournaments/{t['id']}"
    event = (await api.call("POST", base + "/events", "admin", json={"name": "Moot"}))["id"]
    stage = await api.call(
        "POST", base + "/stages", "admin", json={"event_id": event, "name": "R1", "order": 1}
    )
    teams = [
        (await api.call("POST", base + "/teams", "admin", json={"name": f"Team {k}"}))["id"]
        for k in range(2 * courts)
    ]
    court_ids = [
        (
            await api.call(
                "POST", base + "/courts", "admin", json={"label": f"Court {n}", "number": n}
            )
        )["id"]
        for n in range(1, courts + 1)
    ]
    slots = [
        {"court_id": c, "start": start, "duration_minutes": 60, "day_date": day} for c in court_ids
    ]
    await api.call("POST", base + "/slots", "admin", json={"slots": slots})
    for k in range(courts):
        body = {
            "stage_id": stage["id"],
            "petitioner_team_id": teams[2 * k],
            "respondent_team_id": teams[2 * k + 1],
        }
        await api.call("POST", base + "/matches", "admin", json=body)
    vid = (await api.call("POST", base + "/schedule/versions", "admin"))["id"]
    await api.call("POST", f"{base}/schedule/versions/{vid}/auto-assign", "admin")
    items = (await api.call("GET", f"{base}/schedule/day?date={day}", "admin"))["items"]
    me = await api.call("GET", "/api/auth/me", "student")
    sids = []
    for i in items:
        s = await api.call(
            "POST", "/api/session/create", json={"assignment_id": str(i["assignment_id"])}
        )
        sid = str(s["id"])
        await api.call("POST", f"/api/session/{sid}/start")
        await api.call(
            "POST", f"/api/session/{sid}/join", "student", json={"role": "petitioner", "speaker": 1}
        )
        turns = [{"participant_id": str(me["user_id"]), "allowed_seconds": 3600}]
        r = await api.call(
            "POST", "/api/classroom/rounds", json={"session_id": sid, "turns": turns}
        )
        await api.call("POST", f"/api/classroom/rounds/{r['id']}/start")
        await api.call("POST", f"/api/classroom/turns/{r['turns'][0]['id']}/start", "student")
        sids.append(sid)
    return int(t["id"]), day, sids


class Counter:
    def __init__(self) -> None:
        self.frames = 0
        self.kinds: dict[str, int] = {}


async def reader(ws: ClientConnection, c: Counter) -> None:
    with contextlib.suppress(Exception):
        async for msg in ws:
            c.frames += 1
            kind = json.loads(msg)["type"]
            c.kinds[kind] = c.kinds.get(kind, 0) + 1


async def open_clients(
    node: Node, api: Api, case: str, n: int, tid: int, day: str, sid: str
) -> tuple[list[ClientConnection], list[Counter], list[asyncio.Task[None]]]:
    socks, counters, tasks = [], [], []
    for _ in range(n):
        if case == "board":
            ws = await connect(f"ws://127.0.0.1:{node.port}/ws/tournaments/{tid}", max_size=None)
            hello = {"type": "hello", "v": 1, "token": api.tokens["faculty"], "date": day}
        else:
            ws = await connect(node.ws_url(sid), max_size=None)
            hello = {"type": "hello", "v": 1, "as": "observer", "token": None}
        await ws.send(json.dumps(hello))
        first = json.loads(await ws.recv())
        assert first["type"] in ("board", "welcome"), first
        c = Counter()
        socks.append(ws)
        counters.append(c)
        tasks.append(asyncio.create_task(reader(ws, c)))
    return socks, counters, tasks


async def measure(
    node: Node, api: Api, case: str, n: int, seconds: float, tid: int, day: str, sid: str
) -> dict[str, Any]:
    socks, counters, tasks = await open_clients(node, api, case, n, tid, day, sid)
    await asyncio.sleep(2)
    for c in counters:
        c.frames, c.kinds = 0, {}
    cpu0, t0 = cpu_seconds(node.pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds(node.pid), time.monotonic()
    frames = sum(c.frames for c in counters)
    kinds: dict[str, int] = {}
    for c in counters:
        for k, v in c.kinds.items():
            kinds[k] = kinds.get(k, 0) + v
    for ws in socks:
        await ws.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1)  # the node's board closes and untaps; observers' departures
    span = t1 - t0
    return {
        "cpu_per_s": (cpu1 - cpu0) / span,
        "frames_per_client_s": frames / n / span,
        "kinds": kinds,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 courts, 20 subscribers, 5 s, 1 round")
    ap.add_argument("--courts", type=int, default=64)
    ap.add_argument("--subscribers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    if a.quick:
        a.courts, a.subscribers, a.seconds, a.rounds = 16, 20, 5, 1
    print(f"# bench_board: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(Path(tmp) / "data")
        create_users(
            env,
            [
                ("admin", "ADMIN"),
                ("faculty", "FACULTY"),
                ("judge", "JUDGE"),
                ("student", "STUDENT"),
            ],
        )
        node = Node("server", env, Path(tmp))
        node.start()
        api = Api(node.base_url)
        try:
            await node.wait_healthy()
            for u in ("admin", "faculty", "judge", "student"):
                await api.login(u)
            t0 = time.monotonic()
            tid, day, sids = await arrange(api, a.courts)
            print(f"# arranged {a.courts} running courts in {time.monotonic() - t0:.1f} s")
            results: dict[str, list[dict[str, Any]]] = {"session": [], "board": []}
            for _ in range(a.rounds):
                for case in ("session", "board"):
                    results[case].append(
                        await measure(node, api, case, a.subscribers, a.seconds, tid, day, sids[0])
                    )
        finally:
            await api.close()
            node.stop()
    rows = []
    out = {}
    for case, runs in results.items():
        cpu = sum(r["cpu_per_s"] for r in runs) / len(runs)
        fps = sum(r["frames_per_client_s"] for r in runs) / len(runs)
        out[case] = (cpu, fps, runs[-1]["kinds"])
    base_cpu = out["session"][0]
    for case, (cpu, fps, kinds) in out.items():
        rows.append(
            [
                case,
                str(a.courts if case == "board" else 1),
                str(a.subscribers),
                f"{cpu * 1000:.1f}",
                ratio(cpu, base_cpu),
                f"{fps:.2f}",
                ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
            ]
        )
    print_columns(
        f"server CPU and frames, {a.seconds:g} s x {a.rounds} round(s) per case",
        ["case", "clocks", "subscribers", "CPU ms/s", "vs session", "frames/s each", "frames"],
        rows,
    )
    for case, (cpu, fps, _) in out.items():
        print(
            json.dumps(
                {
                    "bench": "board",
                    "case": case,
                    "courts": a.courts if case == "board" else 1,
                    "subscribers": a.subscribers,
                    "cpu_per_s": round(cpu, 5),
                    "vs_session": round(cpu / base_cpu, 3) if base_cpu else None,
                    "frames_per_client_s": round(fps, 3),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
