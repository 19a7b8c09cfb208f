"""Fan-out: deliveries/s to 2,000 observers of one session, beside ``websockets.broadcast()``.

    .venv/bin/python bench/bench_fanout.py [--quick] [--clients 2000] [--events 100]
        [--rounds 3] [--client-procs 1] [--inflight 1] [--deflate] [--profile-server OUT.prof]

Processes (all on this machine):

* the courtroom server: the real app, ``python -m server.node.cli serve``, on
  the embedded default (SQLite file in a temp dir, in-process broker), with a
  judge created by ``python -m server.node.cli create-user``;
* the baseline server: a plain ``websockets.asyncio.server.serve`` whose
  control connection broadcasts each frame it receives to every other
  connection with ``websockets.broadcast()`` and then acks;
* one or more client processes (``websockets`` asyncio client): each
  connection sends ``hello`` as an anonymous observer, and counts the
  ``event`` frames of the round's event type;
* this process, which drives both, fires the events and does the arithmetic.

Both servers get the same clients, the same number of events per round (K) and
the same trigger pattern: the judge POSTs ``/api/session/{id}/log`` K times
(``--inflight`` requests outstanding); the baseline's control connection sends
K frames, each acked after its broadcast (same ``--inflight``). The baseline's
frame is the courtroom's own event frame for the same round, byte for byte but
for the event type, so the sizes match. Rounds alternate courtroom, baseline.

    deliveries/s = clients * K / (last client's K-th frame - first trigger sent)

Clocks: ``time.monotonic()`` (CLOCK_MONOTONIC, shared by every process).
Also printed: the cost of the join storm (observer hellos are logged, coalesced
into batched entries that go to every observer already there), and the CPU each
process used during the timed rounds, so a client-bound run shows itself.

Not a test: it prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    NOISE_CORES,
    Api,
    Baseline,
    ClientProc,
    Neighbours,
    Node,
    add_quiet_option,
    cpu_times,
    create_users,
    install_loop,
    machine,
    raise_nofile,
    server_env,
    stop_clients,
    wait_for_quiet,
)
from _fanout_roles import baseline_main, client_main, tag


@dataclass
class Round:
    system: str
    k: int
    seconds: float
    fire_seconds: float
    deliveries: int
    cpu: dict[str, tuple[float, float]]  # process -> (user, system) CPU seconds
    complete: bool
    others: float = 0.0  # cores used by processes outside the benchmark

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
        self.node: Node | None = None
        self.base: Baseline | None = None
        self.api: Api | None = None
        self.clients: list[ClientProc] = []
        self.counter = 0
        self.sample: str | None = None
        self.http: Any = None
        self.control: Any = None
        self.session_id = ""

    # ---- processes ---------------------------------------------------------

    async def start_servers(self) -> None:
        env = server_env(self.tmp / "data", COURTROOM_OUTBOUND_QUEUE=str(self.args.outbound_queue))
        create_users(env, [("judge", "JUDGE")])
        # As deployed: ``courtroom serve`` (uvicorn with the direct path of server/live/wire.py).
        wrapper = []
        if self.args.profile_server:
            wrapper = [str(BENCH / "_uvicorn_profiled.py"), self.args.profile_server]
            wrapper += ["serve", "--host", "127.0.0.1"]
        self.node = Node("courtroom", env, self.tmp, wrapper)
        self.node.start()
        self.base = Baseline("bench_fanout.py")
        await self.node.wait_healthy()
        self.api = Api(self.node.base_url)
        await self.api.login("judge")
        self.http = self.api.http
        self.http.headers.update(self.api.auth("judge"))
        r = await self.api.call("POST", "/api/session/create", json={"title": "fan-out bench"})
        self.session_id = str(r["id"])
        await self.base.connect()
        self.control = self.base.control

    async def start_clients(self) -> None:
        for _ in range(self.args.client_procs):
            self.clients.append(await ClientProc.spawn("bench_fanout.py", "--loop", self.args.loop))

    def pids(self) -> dict[str, int]:
        assert self.node is not None and self.base is not None
        out = {"courtroom": self.node.pid, "baseline": self.base.pid}
        for i, c in enumerate(self.clients):
            out[f"clients{i + 1}"] = c.proc.pid
        out["driver"] = os.getpid()
        return out

    async def stop(self) -> None:
        await stop_clients(self.clients)
        if self.base is not None:
            await self.base.stop()
        if self.api is not None:
            await self.api.close()
        if self.node is not None:
            self.node.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- phases -------------------------------------------------------------

    def split(self) -> list[int]:
        n, p = self.args.clients, len(self.clients)
        return [n // p + (1 if i < n % p else 0) for i in range(p)]

    async def connect_set(self, name: str, url: str) -> float:
        hello = json.dumps({"type": "hello", "v": 1, "token": None, "as": "observer"})
        t0 = time.monotonic()
        for c, n in zip(self.clients, self.split(), strict=True):
            await c.send(
                op="connect", set=name, url=url, n=n, hello=hello, deflate=self.args.deflate
            )
        for c in self.clients:
            await c.wait("connected", timeout=900)
        return time.monotonic() - t0

    async def fire(self, system: str, t: str, k: int) -> None:
        sem = asyncio.Semaphore(self.args.inflight)
        if system == "courtroom":

            async def one(i: int) -> None:
                async with sem:
                    r = await self.http.post(
                        f"/api/session/{self.session_id}/log",
                        json={"event_type": t, "details": {"i": i}},
                    )
                    if r.status_code != 200:
                        raise RuntimeError(f"log POST failed: {r.status_code} {r.text}")

            await asyncio.gather(*(one(i) for i in range(k)))
            return
        assert self.sample is not None
        frame = self.sample.replace(self.sample_tag, t)

        async def acker() -> None:
            for _ in range(k):
                await self.control.recv()
                sem.release()

        task = asyncio.create_task(acker())
        for _ in range(k):
            await sem.acquire()
            await self.control.send(frame)
        await task

    async def run_round(self, system: str, kind: str, k: int) -> Round:
        self.counter += 1
        t = tag(kind, self.counter)
        for c in self.clients:
            await c.send(op="expect", set=system, tag=t, k=k)
        for c in self.clients:
            await c.wait("expecting", timeout=60, tag=t)
        pids = self.pids()
        cpu0 = {name: cpu_times(pid) for name, pid in pids.items()}
        neighbours = Neighbours()
        profiling = system == "courtroom" and kind == "BENCH" and self.args.profile_server
        if profiling:
            assert self.node is not None
            self.node.signal(signal.SIGUSR1)
            await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await self.fire(system, t, k)
        fired = time.monotonic() - t0
        timeout = max(120.0, self.args.clients * k / 2000)
        last = t0
        complete = True
        for c in self.clients:
            try:
                done = await c.wait(
                    "done", timeout=max(1.0, t0 + timeout - time.monotonic()), tag=t
                )
            except TimeoutError:
                complete = False
                await c.send(op="status", tag=t)
                s = await c.wait("status", timeout=30, tag=t)
                print(
                    f"  {system} round {t}: timed out; {s['remaining']} connections short, closes {s['closes']}"
                )
                continue
            last = max(last, done["t_last"])
            if system == "courtroom" and self.sample is None:
                self.sample, self.sample_tag = done["sample"], t
        elapsed = last - t0 if complete else time.monotonic() - t0
        if profiling:
            assert self.node is not None
            self.node.signal(signal.SIGUSR2)
        cpu1 = {name: cpu_times(pid) for name, pid in pids.items()}
        cpu = {n: (cpu1[n][0] - cpu0[n][0], cpu1[n][1] - cpu0[n][1]) for n in pids}
        others, _ = neighbours.busy()
        return Round(system, k, elapsed, fired, self.args.clients * k, cpu, complete, others)

    async def run(self) -> None:
        a = self.args
        await self.start_servers()
        await self.start_clients()
        assert self.node is not None
        url = self.node.ws_url(self.session_id)
        print(
            f"connecting {a.clients} observers to the courtroom ({len(self.clients)} client processes)..."
        )
        join_watch = Neighbours()
        t_join = await self.connect_set("courtroom", url)
        sync = await self.run_round("courtroom", "SYNCS", 1)
        join_others, _ = join_watch.busy()
        print(
            f"  join storm: {a.clients} observer hellos (arrivals coalesced into batched "
            f"OBSERVER_JOINED entries, each sent to every observer already there) took "
            f"{t_join:.1f} s to welcome all + {sync.seconds:.1f} s to drain; "
            f"{a.clients / (t_join + sync.seconds):,.0f} hellos/s"
            f" (other processes {join_others:.2f} cores)"
        )
        print(f"connecting {a.clients} clients to the websockets.broadcast baseline...")
        assert self.base is not None
        t_base = await self.connect_set("baseline", self.base.url)
        await self.run_round("baseline", "SYNCS", 1)
        print(f"  connected in {t_base:.1f} s")
        assert self.sample is not None
        print(f"frame: {len(self.sample.encode())} bytes, e.g. {self.sample[:160]}...")
        rounds: list[Round] = []
        for r in range(a.rounds):
            for system in ("courtroom", "baseline"):
                for attempt in range(a.retries + 1):
                    rd = await self.run_round(system, "BENCH", a.events)
                    cpu = ", ".join(
                        f"{n} {(u + k) / rd.seconds:.0%} ({k / rd.seconds:.0%} sys)"
                        for n, (u, k) in rd.cpu.items()
                        if u + k > 0.02 * rd.seconds
                    )
                    noisy = rd.others > NOISE_CORES
                    print(
                        f"  round {r + 1} {system:<9}: {rd.deliveries:,} deliveries in {rd.seconds:.3f} s"
                        f" = {rd.rate:,.0f}/s (triggers sent in {rd.fire_seconds:.3f} s;"
                        f" busy share of one core: {cpu}; other processes {rd.others:.2f} cores)"
                        f"{'' if rd.complete else ' INCOMPLETE'}"
                        f"{' NOISY: repeating' if noisy and attempt < a.retries else ''}"
                    )
                    if not noisy or attempt == a.retries:
                        break
                    await asyncio.to_thread(wait_for_quiet, 300, NOISE_CORES / 2, 3.0, False)
                rounds.append(rd)
        report(a, rounds, t_join + sync.seconds)


def report(a: argparse.Namespace, rounds: list[Round], join_s: float) -> None:
    def med(system: str) -> float:
        return statistics.median(r.rate for r in rounds if r.system == system)

    def best(system: str) -> float:
        return max(r.rate for r in rounds if r.system == system)

    def noise(system: str) -> float:
        return max(r.others for r in rounds if r.system == system)

    c, b = med("courtroom"), med("baseline")
    print()
    print(
        f"fan-out, one session, {a.clients} observers, K={a.events} events per round, "
        f"{a.rounds} rounds, inflight {a.inflight}, compression {'deflate' if a.deflate else 'off'}, "
        f"{a.client_procs} client process(es)"
    )
    head = (
        f"{'case':<44}  {'median/s':>10}  {'best/s':>10}  {'vs baseline':>11}  {'others (max)':>12}"
    )
    print(head)
    print("-" * len(head))
    print(
        f"{'baseline: websockets.broadcast()':<44}  {b:>10,.0f}  {best('baseline'):>10,.0f}  "
        f"{'':>11}  {noise('baseline'):>7.2f} cores"
    )
    print(
        f"{'courtroom: uvicorn + hub + outbound queues':<44}  {c:>10,.0f}  "
        f"{best('courtroom'):>10,.0f}  {c / b:>10.3f}x  {noise('courtroom'):>7.2f} cores"
    )
    print("(deliveries/s = clients * K / (last client's K-th event - first trigger))")
    print(f"join storm (connect + hello + drain, {a.clients} observers): {join_s:.1f} s")
    if not all(r.complete for r in rounds):
        print("WARNING: some rounds did not complete; their rates are lower bounds")
    if max(r.others for r in rounds) > NOISE_CORES:
        print("WARNING: other processes were busy during some rounds; rerun on a quiet machine")


async def driver_main(args: argparse.Namespace) -> None:
    print(f"bench_fanout: {machine()}, open files limit {raise_nofile()}")
    d = Driver(args)
    others = Neighbours()
    try:
        await d.run()
        print(others.line())
    finally:
        await d.stop()
        if args.profile_server:
            print(f"server profile (timed courtroom rounds only): {args.profile_server}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 observers, K=20, 2 rounds")
    ap.add_argument("--clients", type=int, default=None, help="observers (default 2000)")
    ap.add_argument("--events", type=int, default=None, help="events per round, K (default 100)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per server (default 3)")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes (default 1)")
    ap.add_argument("--inflight", type=int, default=1, help="triggers outstanding (default 1)")
    ap.add_argument(
        "--retries", type=int, default=4, help="repeat a round disturbed by other processes"
    )
    ap.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate")
    ap.add_argument("--outbound-queue", type=int, default=100_000, help=argparse.SUPPRESS)
    ap.add_argument("--profile-server", metavar="OUT.prof", help="cProfile the courtroom rounds")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("--role", choices=("driver", "clients", "baseline-server"), default="driver")
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    add_quiet_option(ap)
    args = ap.parse_args()
    install_loop(args.loop)
    if args.role == "clients":
        asyncio.run(client_main())
    elif args.role == "baseline-server":
        asyncio.run(baseline_main(args.port))
    else:
        q = args.quick
        args.clients = args.clients or (500 if q else 2000)
        args.events = args.events or (20 if q else 100)
        args.rounds = args.rounds or (2 if q else 3)
        if args.profile_server:
            args.profile_server = str(Path(args.profile_server).resolve())
        wait_for_quiet(args.wait_quiet)
        asyncio.run(driver_main(args))
