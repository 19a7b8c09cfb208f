"""The cluster benchmark's processes and phases: nodes, baselines, client pool, the measurements.

``Bench`` starts the courtroom nodes (sharing one Redis and one database),
the two baseline servers and the client processes, and runs each phase the
docstring of ``bench_cluster.py`` describes; ``Latency`` and ``Burst`` are
what the phases yield.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Api,
    Baseline,
    Dist,
    Node,
    cpu_seconds,
    create_users,
    now_ms,
    print_columns,
    scratch_pg,
    server_env,
)
from _redis import Redis
from _tick_driver import (
    INSTRUMENT_HEAD,
    INSTRUMENT_TITLE,
    ClientPool,
    ClockSession,
    clock_session,
    gc_freeze_env,
    instrument_row,
    run_clock,
    settle,
    sleep_ticks,
)
from _tick_servers import server_wrapper

TAG_LEN = 9  # FANC00001, FANB00001: one length, so frame sizes stay equal


@dataclass
class Latency:
    label: str
    per_node: int
    same: Dist
    cross: Dist
    missing: int


@dataclass
class Burst:
    system: str
    deliveries: int
    seconds: float
    complete: bool
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        self.pool = ClientPool(args.client_procs)
        self.redis: Redis | None = None
        self.db = contextlib.AsyncExitStack()  # the scratch database, dropped in stop()
        self.nodes: list[Node] = []
        self.bases: list[Baseline] = []
        self.api: Api | None = None
        self.counter = 0
        self.sample: tuple[str, str] | None = None  # (frame, its tag)
        self.phases: dict[str, list[tuple[float, float]]] = {}  # for --instrument
        self.instrument: dict[str, str] = {}  # node name -> its instrument file
        self.node_env: dict[str, str] = {}  # more settings for both nodes

    def pids(self) -> dict[str, int]:
        out = {n.name: n.pid for n in self.nodes}
        out.update({b.name: b.pid for b in self.bases})
        if self.redis is not None:
            out["redis"] = self.redis.proc.pid
        for i, p in enumerate(self.pool.pids):
            out[f"clients{i + 1}"] = p
        return out

    def tag(self, kind: str) -> str:
        self.counter += 1
        t = f"{kind}{self.counter:05d}"
        assert len(t) == TAG_LEN
        return t

    # ---- set-up and tear-down ----------------------------------------------

    async def start(self) -> ClockSession:
        """Every process up, then the session whose clock the phases run."""
        await self.launch()
        assert self.api is not None
        await self.api.login("pet1")
        return await clock_session(self.api, "cluster bench")

    async def launch(self) -> None:
        """Redis, the scratch database, both nodes, both baselines and the client
        processes; the judge logged in on node A."""
        self.redis = Redis(self.tmp)
        db_url = await self.db.enter_async_context(scratch_pg("bench_cluster_"))
        if db_url is None:
            raise SystemExit("bench_cluster needs PostgreSQL (COURTROOM_BENCH_PG)")
        await self.redis.wait()
        base_env = server_env(
            self.tmp / "data",
            DATABASE_URL=db_url,
            REDIS_URL=self.redis.url,
            COURTROOM_REDIS_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:",
            **gc_freeze_env(self.args),
            **self.node_env,
        )
        await asyncio.to_thread(create_users, base_env, [("judge", "JUDGE"), ("pet1", "STUDENT")])
        for name in ("node-a", "node-b"):
            env = dict(base_env, COURTROOM_NODE_ID=name, COURTROOM_DATA_DIR=str(self.tmp / name))
            if self.args.instrument:
                self.instrument[name] = str(self.tmp / f"{name}.instrument")
            profile = getattr(self.args, "profile_server", None)  # bench_admit's option
            wrapper = server_wrapper(
                profile=f"{profile}.{name}" if profile else None,
                instrument=self.instrument.get(name),
            )
            node = Node(name, env, self.tmp, wrapper)
            node.start()
            self.nodes.append(node)
        for name in ("base-a", "base-b"):
            self.bases.append(Baseline("bench_ticks.py", name))
        await self.pool.start()
        for node in self.nodes:
            await node.wait_healthy()
        for b in self.bases:
            await b.connect()
        self.api = Api(self.nodes[0].base_url)
        await self.api.login("judge")

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.close()
        await self.pool.stop()
        for b in self.bases:
            await b.stop()
        await asyncio.gather(*(asyncio.to_thread(n.stop) for n in self.nodes))
        if self.redis is not None:
            self.redis.stop()
        await self.db.aclose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def instrument_report(self) -> None:
        if not self.args.instrument:
            return
        rows = []
        for phase, windows in self.phases.items():
            for name, path in self.instrument.items():
                rows.append([phase, name, *instrument_row(Path(path), windows)])
        print_columns(INSTRUMENT_TITLE, ["phase", "node", *INSTRUMENT_HEAD], rows)

    async def connect(self, per_node: int, have: int, sid: str) -> None:
        """Bring each courtroom node to ``per_node`` observers."""
        t0 = time.monotonic()
        a, b = self.nodes
        res = await asyncio.gather(
            self.pool.connect("A", a.ws_url(sid), per_node - have),
            self.pool.connect("B", b.ws_url(sid), per_node - have),
        )
        assert self.api is not None
        head = await settle(self.api, sid)
        alive = await self.pool.alive()
        print(
            f"  observers per node {have:,} -> {per_node:,}: connected A +{res[0][0]:,} "
            f"(failed {res[0][1]}), B +{res[1][0]:,} (failed {res[1][1]}) in "
            f"{max(r[2] for r in res):.1f} s; log settled at {head} after "
            f"{time.monotonic() - t0:.1f} s; alive {alive}"
        )

    # ---- 1. cross-node latency ----------------------------------------------

    async def latency(self, sid: str, label: str, per_node: int, k: int, gap: float) -> Latency:
        assert self.api is not None
        tag = self.tag("XNOD")
        await self.pool.tag(tag, ["A", "B"], k=k, keep=True)
        sends: dict[int, float] = {}
        start = now_ms()
        for i in range(k):
            t = now_ms()
            r = await self.api.call(
                "POST", f"/api/session/{sid}/log", json={"event_type": tag, "details": {"i": i}}
            )
            sends[int(r["entries"][0])] = t
            await asyncio.sleep(gap)
        await self.pool.wait_done(tag, 30)
        self.phases.setdefault(f"latency, {label}", []).append((start, now_ms()))
        dists, missing = await self.pool.events(["A", "B"], sends)
        return Latency(label, per_node, dists["A"], dists["B"], missing)

    # ---- 2. fan-out -----------------------------------------------------------

    async def burst(self, system: str, sid: str, k: int) -> Burst:
        assert self.api is not None
        pids = self.pids()
        if system == "courtroom":
            tag = self.tag("FANC")
            expected = await self.pool.tag(tag, ["A", "B"], k=k)
        else:
            assert self.sample is not None
            tag = self.tag("FANB")
            frame = "frame " + self.sample[0].replace(self.sample[1], tag)
            expected = await self.pool.tag(tag, ["base-a", "base-b"], k=k)
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        t0 = now_ms()
        m0 = time.monotonic()
        if system == "courtroom":
            for i in range(k):
                await self.api.call(
                    "POST",
                    f"/api/session/{sid}/log",
                    json={"event_type": tag, "details": {"i": i}},
                )
        else:
            for _ in range(k):
                await asyncio.gather(*(b.cmd(frame) for b in self.bases))
        t_last, sample, complete = await self.pool.wait_done(tag, max(120.0, expected / 2000))
        wall = time.monotonic() - m0
        if system == "courtroom":
            self.phases.setdefault("fan-out", []).append((t0, now_ms()))
        cpu = {n: (cpu_seconds(p) - cpu0[n]) / wall for n, p in pids.items()}
        if system == "courtroom" and self.sample is None and sample is not None:
            self.sample = (sample, tag)
        seconds = (t_last - t0) / 1000 if complete else wall
        return Burst(system, expected, seconds, complete, cpu)

    # ---- 3. ticks ---------------------------------------------------------------

    async def ticks(
        self, sess: ClockSession, n_ticks: int, rounds: int
    ) -> tuple[dict[str, Dist], dict[str, float]]:
        assert self.api is not None
        windows: dict[str, list[tuple[float, float]]] = {
            "A": [],
            "B": [],
            "base-a": [],
            "base-b": [],
        }
        pids = self.pids()
        busy = {n: 0.0 for n in pids}
        spent = {"court": 0.0, "base": 0.0}
        for _ in range(rounds):
            c0 = {n: cpu_seconds(p) for n, p in pids.items()}
            r = await run_clock(self.api, sess)
            m0 = time.monotonic()
            await sleep_ticks(n_ticks, 1000)
            p = now_ms()
            spent["court"] += time.monotonic() - m0
            for n, pid in pids.items():
                if n.startswith("node"):
                    busy[n] += cpu_seconds(pid) - c0[n]
            # Node B ticks once when the TURN_STARTED/SESSION_RESUMED entry reaches it
            # through Redis, at no whole second: start counting 1.2 s after the call.
            windows["A"].append((r + 1200, p))
            windows["B"].append((r + 1200, p))
            self.phases.setdefault("ticks", []).append((r, p))
            await self.api.call("POST", f"/api/session/{sess.id}/pause")
            await asyncio.sleep(0.5)
            c0 = {n: cpu_seconds(p) for n, p in pids.items()}
            await asyncio.gather(*(b.cmd("start") for b in self.bases))
            s = now_ms()
            m0 = time.monotonic()
            await sleep_ticks(n_ticks, 1000)
            e = now_ms()
            await asyncio.gather(*(b.cmd("stop") for b in self.bases))
            spent["base"] += time.monotonic() - m0
            for n, pid in pids.items():
                if n.startswith("base"):
                    busy[n] += cpu_seconds(pid) - c0[n]
            windows["base-a"].append((s, e))
            windows["base-b"].append((s, e))
            await asyncio.sleep(0.5)
        dists, _ = await self.pool.ticks(windows, 1000)
        cores = {
            n: v / max(spent["court" if n.startswith("node") else "base"], 1e-9)
            for n, v in busy.items()
            if n.startswith(("node", "base"))
        }
        return dists, cores
