"""500 live boards on one tournament of 64 courts: summary fan-out beside ``websockets.broadcast()``.

    .venv/bin/python bench/bench_board_fanout.py [--quick] [--boards 500] [--courts 64]
        [--changes 40] [--rounds 3] [--client-procs 2]

Processes (all on this machine):

* the courtroom server: ``python -m server.node.cli serve`` (the real app, SQLite, in-process
  broker), with a tournament of ``--courts`` courts, one match and one started session each;
* the baseline server (``--role baseline-server``): a plain ``websockets`` server whose
  control connection ``websockets.broadcast()``-s each frame it receives to every other
  connection, then acks;
* ``--client-procs`` client processes (``--role clients``), each holding an equal share of
  the boards of both servers (``/ws/tournaments/{id}`` on the courtroom), counting the
  ``summary`` frames;
* this driver.

A round: K = ``--changes`` changes. Courtroom: the judge POSTs a note K times, to the courts
in turn (each note is a committed entry, so one ``summary`` frame to every board). Baseline:
K control frames, each the courtroom's own summary frame of the same size (captured from a
board), each broadcast to every client. Rounds alternate, courtroom first.

    deliveries/s = boards * K / (the last board's K-th summary - the first trigger sent)

Clocks: ``time.monotonic()``. Not a test: it prints figures and asserts nothing. JSON lines:
``{"bench": "board_fanout", "case": ..., "deliveries_per_s": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    Api,
    Baseline,
    ClientProc,
    Node,
    client_role,
    cpu_times,
    create_users,
    machine,
    print_columns,
    ratio,
    reply,
    server_env,
    stop_clients,
)
from _fanout_roles import baseline_main
from bench_board import arrange

SUMMARY = b'"type":"summary"'

# --------------------------------------------------------------------------
# role: clients
# --------------------------------------------------------------------------


async def client_main() -> None:
    from websockets.asyncio.client import connect

    sets: dict[str, list[Any]] = {}
    counts: dict[str, list[int]] = {}
    want: dict[str, int] = {}

    async def reader(ws: Any, name: str, i: int) -> None:
        try:
            while True:
                msg = await ws.recv(decode=False)
                if SUMMARY not in msg[:40]:
                    continue
                c = counts[name]
                c[i] += 1
                k = want.get(name)
                if k is not None and c[i] == k:
                    want_left[name] -= 1
                    if want_left[name] == 0:
                        reply({"op": "done", "set": name, "t_last": time.monotonic()})
        except Exception:
            return

    want_left: dict[str, int] = {}

    async def open_one(name: str, url: str, hello: str, i: int, sem: asyncio.Semaphore) -> Any:
        async with sem:
            ws = await connect(url, compression=None, max_size=None, ping_interval=None)
            await ws.send(hello)
            first = await ws.recv(decode=False)
            if b'"board"' not in first[:20] and b'"welcome"' not in first[:20]:
                raise RuntimeError(f"unexpected first frame {first[:100]!r}")
        ws.reader = asyncio.create_task(reader(ws, name, i))  # type: ignore[attr-defined]
        return ws

    async def handle(cmd: dict[str, Any]) -> bool:
        op = cmd["op"]
        if op == "connect":
            name = cmd["set"]
            counts[name] = [0] * cmd["n"]
            sem = asyncio.Semaphore(50)
            sets[name] = await asyncio.gather(
                *(open_one(name, cmd["url"], cmd["hello"], i, sem) for i in range(cmd["n"]))
            )
            reply({"op": "connected", "set": name})
        elif op == "expect":
            name = cmd["set"]
            counts[name] = [0] * len(sets[name])
            want[name] = cmd["k"]
            want_left[name] = len(sets[name])
            reply({"op": "expecting", "set": name})
        elif op == "exit":
            return False
        return True

    await client_role(handle)


# --------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------


async def one_round(
    case: str, procs: list[ClientProc], k: int, trigger: Any, pids: dict[str, int]
) -> dict[str, float]:
    for p in procs:
        await p.send(op="expect", set=case, k=k)
        await p.wait("expecting", 30)
    cpu0 = {n: sum(cpu_times(pid)) for n, pid in pids.items()}
    t0 = time.monotonic()
    for i in range(k):
        await trigger(i)
    lasts = [(await p.wait("done", 120))["t_last"] for p in procs]
    cpu1 = {n: sum(cpu_times(pid)) for n, pid in pids.items()}
    span = max(lasts) - t0
    return {"span": span, **{f"cpu_{n}": cpu1[n] - cpu0[n] for n in pids}}


async def driver(a: argparse.Namespace) -> None:
    print(f"# bench_board_fanout: {machine()}")
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
        base = Baseline("bench_board_fanout.py")
        api = Api(node.base_url)
        procs: list[ClientProc] = []
        try:
            await node.wait_healthy()
            await base.connect()
            for u in ("admin", "faculty", "judge", "student"):
                await api.login(u)
            tid, day, sids = await arrange(api, a.courts)
            # One board of our own, for a summary frame to give the baseline.
            from websockets.asyncio.client import connect

            hello = json.dumps(
                {"type": "hello", "v": 1, "token": api.tokens["faculty"], "date": day}
            )
            async with connect(f"ws://127.0.0.1:{node.port}/ws/tournaments/{tid}") as ws:
                await ws.send(hello)
                await ws.recv()
                await api.call(
                    "POST",
                    f"/api/session/{sids[0]}/log",
                    json={"event_type": "NOTE", "details": {}},
                )
                while SUMMARY not in (sample := await ws.recv(decode=False))[:40]:
                    pass
            share = a.boards // a.client_procs
            procs = [await ClientProc.spawn("bench_board_fanout.py") for _ in range(a.client_procs)]
            t0 = time.monotonic()
            for p in procs:
                await p.send(
                    op="connect",
                    set="courtroom",
                    n=share,
                    url=f"ws://127.0.0.1:{node.port}/ws/tournaments/{tid}",
                    hello=hello,
                )
                await p.send(op="connect", set="baseline", n=share, url=base.url, hello="{}")
            for p in procs:
                await p.wait("connected", 300)
                await p.wait("connected", 300)
            print(
                f"# {share * a.client_procs} boards on each server in {time.monotonic() - t0:.1f} s"
            )
            await asyncio.sleep(2)

            async def note(i: int) -> None:
                sid = sids[i % len(sids)]
                await api.call(
                    "POST",
                    f"/api/session/{sid}/log",
                    json={"event_type": "NOTE", "details": {"i": i}},
                )

            async def bcast(i: int) -> None:
                await base.cmd(sample.decode())

            pids = {"courtroom": node.pid, "baseline": base.pid}
            results: dict[str, list[dict[str, float]]] = {"courtroom": [], "baseline": []}
            for _ in range(a.rounds):
                results["courtroom"].append(
                    await one_round("courtroom", procs, a.changes, note, pids)
                )
                results["baseline"].append(
                    await one_round("baseline", procs, a.changes, bcast, pids)
                )
        finally:
            await stop_clients(procs)
            await api.close()
            await base.stop()
            node.stop()
    n = share * a.client_procs
    rate = {
        case: statistics.median(n * a.changes / r["span"] for r in runs)
        for case, runs in results.items()
    }
    cpu = {
        case: statistics.median(r[f"cpu_{case}"] / r["span"] for r in runs)
        for case, runs in results.items()
    }
    rows = [
        [
            case,
            str(n),
            str(a.changes),
            f"{rate[case]:,.0f}",
            ratio(rate[case], rate["baseline"]),
            f"{cpu[case]:.2f}",
        ]
        for case in ("courtroom", "baseline")
    ]
    print_columns(
        f"summary fan-out to {n} boards, {a.courts} courts, median of {a.rounds} rounds",
        ["case", "boards", "changes", "deliveries/s", "vs broadcast", "server cores busy"],
        rows,
    )
    print(f"(summary frame: {len(sample)} bytes)")
    for case in ("courtroom", "baseline"):
        print(
            json.dumps(
                {
                    "bench": "board_fanout",
                    "case": case,
                    "boards": n,
                    "courts": a.courts,
                    "changes": a.changes,
                    "deliveries_per_s": round(rate[case]),
                    "vs_broadcast": round(rate[case] / rate["baseline"], 3),
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=("driver", "clients", "baseline-server"), default="driver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="100 boards, 16 courts, 1 round")
    ap.add_argument("--boards", type=int, default=500)
    ap.add_argument("--courts", type=int, default=64)
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--client-procs", type=int, default=2)
    a = ap.parse_args()
    if a.role == "clients":
        asyncio.run(client_main())
    elif a.role == "baseline-server":
        asyncio.run(baseline_main(a.port))
    else:
        if a.quick:
            a.boards, a.courts, a.rounds = 100, 16, 1
        asyncio.run(driver(a))


if __name__ == "__main__":
    main()
