"""Tick delivery latency to 1,000 and 5,000 observers of one session, beside ``websockets.broadcast()``.

    .venv/bin/python bench/bench_ticks.py [--quick] [--sizes 1000,5000] [--ticks 8] [--rounds 2]
        [--pauses 5] [--client-procs 2] [--client raw|websockets]
        [--instrument] [--profile-server OUT.prof] [--no-gc-freeze]

About 2.5-3 minutes with the defaults (the join storm of 5,000 observers is ~50 s
of it); ``--quick`` (200 and 1,000 observers) about 40 s.

Processes (all on this machine, all on uvloop):

* the courtroom server: ``python -m server.node.cli serve`` (uvicorn, the real app) on
  its embedded default (a SQLite file in a temp dir, the in-process broker),
  ``COURTROOM_TICK_MS=1000``, heap freezing on as built (server/common/heap.py); users
  made with ``server.node.cli create-user``;
* the baseline server (``--role baseline-server``): a plain
  ``websockets.asyncio.server.serve`` that, while ticking, sleeps to each whole
  second of the wall clock (the hub's ``_tick_loop`` arithmetic) and
  ``websockets.broadcast()``-s a tick frame built by ``protocol.tick_frame``
  (the courtroom's own encoder, same fields, same size);
* ``--client-procs`` client processes (``--role clients``), each holding an
  equal share of the observers of *both* servers, so both see the same client
  topology;
* this driver, which runs the session (judge and student over HTTP), switches
  the phases and does the arithmetic.

The session: the judge creates and starts it, a STUDENT joins as petitioner
speaker 1, the judge creates a round with one 3,600 s turn and starts it, the
student starts the turn: from then on the hub ticks every observer each
second. The two servers tick at the same instants, so they take turns: a
courtroom phase (session running, ``--ticks`` ticks), then the judge pauses the
session (measured), then a baseline phase of as many ticks, then the baseline's
pause broadcast (measured), and the judge resumes. ``--rounds`` such pairs per
size; more pause/resume cycles up to ``--pauses`` (each pause 1.5-2.5 s after
its resume, at a random phase of the second, so it does not queue behind the
resume's own fan-out).

Latency of a tick = the client's receive time - the tick's scheduled time. The
scheduled time is the whole second the tick belongs to: ``server_time_ms``
rounded to the nearest multiple of the tick interval (the hub stamps the time
it computed the tick, just after the boundary). Only ticks of steady phases
count: running ticks computed after the phase's resume returned and before its
pause was sent (the tick that a resume itself sends is not a scheduled one).
Pause latency = the client's receive time of the first of the SESSION_PAUSED
event and the ``running: false`` tick - the moment before the judge's HTTP
POST ``/pause`` (baseline: before the control message that makes it broadcast
a ``running: false`` tick).

Receive time: by default the clients are a minimal RFC 6455 client
(``RawClient``: the handshake by hand with no extension offered, i.e. no
compression, then a frame parser in ``data_received``) that stamps
``time.time()`` when a chunk arrives and handles its text frames right there:
no reader task woken per message (about 20-30 us of client CPU a frame, most of
it the kernel's receive path), so the client processes distort the figures as
little as Python allows on a shared 2-core machine. ``--client websockets`` uses the ``websockets`` asyncio client instead
(``compression=None``, a ``ClientConnection`` subclass stamping in
``data_received``), as a cross-check. All processes read the same wall clock
(CLOCK_REALTIME on one machine).

Diagnostics (they run the server through ``--role server``, which calls the
same ``server.http.serve.run`` as ``server.node.cli serve``, with monkeypatches):

* ``--instrument``: time each ``Hub.tick_all`` (the synchronous push of a tick
  into every connection's outbound slot) and every garbage collection;
* ``--profile-server OUT.prof``: cProfile of the courtroom phases of the largest
  size only (SIGUSR1/SIGUSR2); read with ``python -m pstats``.

``--no-gc-freeze`` starts the server with ``COURTROOM_GC_FREEZE=0``: no heap
freezing (server/common/heap.py), to see what it is worth.

The process plumbing (server, baseline and client processes, CPU from /proc,
percentiles, tables) is in ``_common.py``. This script's parts: the client
processes in ``_tick_clients.py``, the baseline and diagnostic servers in
``_tick_servers.py``, the client pool, the clock session and the instrument
reports in ``_tick_driver.py``, one size's phases in ``_tick_measure.py``.
``bench_cluster.py`` reuses the roles (``clients``, ``baseline-server``,
``server``, still started as ``bench_ticks.py --role ...``) and the driver's helpers.

Not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

from _common import (
    Api,
    Baseline,
    Neighbours,
    Node,
    create_users,
    fmt,
    install_loop,
    machine,
    print_columns,
    raise_nofile,
    server_env,
)
from _tick_clients import client_main
from _tick_driver import (
    ClientPool,
    clock_session,
    gc_freeze_env,
    others_line,
    settle,
)
from _tick_measure import SizeResult, measure_size, report_instrument
from _tick_servers import baseline_main, server_wrapper, wrapped_server_main


def report_ticks(args: argparse.Namespace, results: list[SizeResult]) -> None:
    head = ["case", "observers", "samples", "p50 ms", "p99 ms", "max ms", "vs baseline p50/p99"]

    tables = [
        (
            f"tick delivery latency (receive - scheduled whole second), one session, "
            f"{args.ticks} ticks x {args.rounds} phases per system, "
            f"{args.client_procs} client processes",
            "baseline: websockets.broadcast()",
            "courtroom: hub ticks (uvicorn)",
            [(r.n, r.base, r.court) for r in results],
        ),
        (
            f"pause -> observers see it (first of SESSION_PAUSED / running:false tick), "
            f"{args.pauses} cycles",
            "baseline: control msg -> broadcast",
            "courtroom: HTTP POST /pause",
            [(r.n, r.base_pause, r.court_pause) for r in results],
        ),
    ]
    for title, base_case, court_case, sizes in tables:
        rows: list[list[str]] = []
        for n, base, court in sizes:
            rows.append([base_case, f"{n:,}", *base.cells(), ""])
            rows.append([court_case, f"{n:,}", *court.vs(base)])
        print_columns(title, head, rows)
    rows = []
    for r in results:
        rows.append(
            [
                f"{r.n:,} observers",
                fmt(r.court_lag.p50),
                fmt(r.court_lag.max),
                fmt(r.base_lag.p50),
                fmt(r.base_lag.max),
                f"{r.court_cpu_ms:,.0f} ({r.court_sys_ms:,.0f} sys)",
                f"{r.base_cpu_ms:,.0f} ({r.base_sys_ms:,.0f} sys)",
                f"{r.client_cpu:.2f}",
                str(r.missing),
            ]
        )
    print_columns(
        "diagnostics: timer lateness (tick computed - boundary, ms), server CPU per tick (ms), "
        "client CPU (cores) during courtroom phases, observers missing a pause",
        [
            "size",
            "court lag p50",
            "court lag max",
            "base lag p50",
            "base lag max",
            "court cpu/tick",
            "base cpu/tick",
            "clients cores",
            "missing",
        ],
        rows,
    )
    last = results[-1]
    goal = "met" if last.court.p99 <= 75 else "MISSED"
    print(
        f"\ngoal: tick p99 at {last.n:,} observers <= 75 ms on one process: "
        f"{fmt(last.court.p99)} ms -> {goal}"
        f" (baseline websockets.broadcast(): {fmt(last.base.p99)} ms)"
    )


async def ticks_driver(args: argparse.Namespace) -> None:
    print(f"bench_ticks: {machine(when=False)}, open files limit {raise_nofile()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ticks-"))
    env = server_env(tmp / "data", **gc_freeze_env(args))
    create_users(env, [("judge", "JUDGE"), ("pet1", "STUDENT")])
    others = Neighbours()
    instrument = str(tmp / "instrument.txt") if args.instrument else None
    node = Node("courtroom", env, tmp, server_wrapper(args.profile_server, instrument))
    base: Baseline | None = None
    pool = ClientPool(args.client_procs, args.client)
    api: Api | None = None
    try:
        node.start()
        base = Baseline("bench_ticks.py")
        await pool.start()
        await node.wait_healthy()
        await base.connect()
        api = Api(node.base_url)
        await api.login("judge")
        await api.login("pet1")
        sess = await clock_session(api, "tick bench")
        results: list[SizeResult] = []
        have = 0
        for n in args.sizes:
            print(f"connecting observers: {have:,} -> {n:,} on each server ...")
            ok_c, fail_c, sec_c = await pool.connect("court", node.ws_url(sess.id), n - have)
            head = await settle(api, sess.id)
            print(
                f"  courtroom: +{ok_c:,} in {sec_c:.1f} s (failed {fail_c}); "
                f"log head {head} once settled"
            )
            ok_b, fail_b, sec_b = await pool.connect("base", base.url, n - have)
            print(f"  baseline:  +{ok_b:,} in {sec_b:.1f} s (failed {fail_b})")
            have = n
            alive = await pool.alive()
            print(f"  alive: {alive}")
            res = await measure_size(
                args,
                n,
                api,
                sess,
                node,
                base,
                pool,
                bool(args.profile_server) and n == max(args.sizes),
            )
            results.append(res)
            print(
                f"  {n:,}: courtroom tick p50/p99/max {fmt(res.court.p50)}/{fmt(res.court.p99)}/"
                f"{fmt(res.court.max)} ms; baseline {fmt(res.base.p50)}/{fmt(res.base.p99)}/"
                f"{fmt(res.base.max)} ms; pause p50/p99 {fmt(res.court_pause.p50)}/"
                f"{fmt(res.court_pause.p99)} ms"
            )
        report_ticks(args, results)
        print(others_line(others))
        if instrument:
            report_instrument(Path(instrument), results)
        if args.profile_server:
            print(
                f"\nserver profile (courtroom tick phases of the largest size): {args.profile_server}"
            )
    finally:
        if api is not None:
            await api.close()
        await pool.stop()
        if base is not None:
            await base.stop()
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="200 and 1,000 observers, 5 ticks, 1 round"
    )
    ap.add_argument("--sizes", default=None, help="observer counts, comma separated (1000,5000)")
    ap.add_argument("--ticks", type=int, default=None, help="ticks per phase (8)")
    ap.add_argument("--rounds", type=int, default=None, help="phases per system and size (2)")
    ap.add_argument("--pauses", type=int, default=None, help="pause cycles per size (5)")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes (2)")
    ap.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="client implementation: raw (RFC 6455 by hand, cheapest) or websockets",
    )
    ap.add_argument("--profile-server", metavar="OUT.prof", help="cProfile the courtroom phases")
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="start the server with COURTROOM_GC_FREEZE=0 (no heap freezing, server/common/heap.py)",
    )
    ap.add_argument(
        "--instrument",
        action="store_true",
        help="time each Hub.tick_all push and each GC pause in the server (monkeypatched)",
    )
    ap.add_argument(
        "--role",
        choices=("driver", "clients", "baseline-server", "server"),
        default="driver",
    )
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--instrument-file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tick-ms", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "server":
        wrapped_server_main(args.port, args.profile_server, args.instrument_file)
        return
    install_loop("uvloop")
    if args.role == "clients":
        asyncio.run(client_main(args.client))
    elif args.role == "baseline-server":
        asyncio.run(baseline_main(args.port, args.tick_ms))
    else:
        q = args.quick
        args.sizes = [int(x) for x in (args.sizes or ("200,1000" if q else "1000,5000")).split(",")]
        args.ticks = args.ticks or (5 if q else 8)
        args.rounds = args.rounds or (1 if q else 2)
        args.pauses = args.pauses or (2 if q else 5)
        if args.profile_server:
            args.profile_server = str(Path(args.profile_server).resolve())
        asyncio.run(ticks_driver(args))


if __name__ == "__main__":
    main()
