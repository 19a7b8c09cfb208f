"""Is the second vCPU free? The append load alone, and beside a busy process.

Several designs put work on the machine's other core while the writer's
thread runs: the tree grown by a helper thread during the ``COMMIT``, a
child process integrating the trees, two SQLite batches in flight. Each
measured no faster here than doing the same work inline. This benchmark
shows what the other core costs on the machine it runs on: the load of
bench_tree_cost.py without the tree (``--sessions`` sessions, one client
each sending NOTE commands through ``Courtroom.execute``, SQLite) in
alternated rounds alone and beside a second process spinning on the CPU
(SHA-256 of 65 bytes in a loop, the tree's own work). The control is a
pure-Python loop (a dict and ``str`` of ints, no I/O, no threads), timed
the same two ways: if it keeps its speed beside the spinner while the
append load does not, the cores compute independently and what the load
loses is its own use of the second core (SQLite's checkpoint thread, the
kernel's work for its writes).

    .venv/bin/python bench/bench_second_core.py --rounds 5

Ends with one JSON line (``{"bench": "second_core", ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from _common import install_loop, machine
from bench_bundle import _database
from bench_tree_cost import Runs, load_args, one, report

from store import migrate

SPIN = "import hashlib\nb = bytes(65)\nwhile True:\n    hashlib.sha256(b).digest()\n"
LOOP = 2_000_000  # iterations of the control loop (~0.5 s)


def control() -> tuple[float, float, float, float]:
    """The pure-Python loop, in thousands of iterations: (per second, CPU s per 1,000, 0, 0)."""
    seen: dict[int, str] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(LOOP):
        seen[i & 1023] = str(i)
    k = LOOP / 1000
    return k / (time.perf_counter() - t0), (time.process_time() - c0) / k * 1000, 0.0, 0.0


async def main() -> None:
    args = load_args(argparse.ArgumentParser())
    print(machine())
    runs: Runs = {False: [], True: []}
    loops: Runs = {False: [], True: []}
    async with _database("sqlite") as url:
        assert url is not None
        await migrate(url)
        await one(url, False, 8, 10)  # warm up
        for r in range(args.rounds):
            for busy in (False, True) if r % 2 == 0 else (True, False):
                spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
                try:
                    await asyncio.sleep(0.2)  # the spinner up and running
                    runs[busy].append(await one(url, False, args.sessions, args.per))
                    loops[busy].append(control())
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
    rate, cpu = report("appends", ("alone", "beside a busy process"), runs)
    # The control's "/s" and "per 1,000" count thousands of its iterations.
    loop_rate, loop_cpu = report("control loop", ("alone", "beside a busy process"), loops)
    print(
        json.dumps(
            {
                "bench": "second_core",
                "rounds": args.rounds,
                "sessions": args.sessions,
                "per_s": round(rate[True]),
                "baseline_per_s": round(rate[False]),
                "cpu_ms_per_append": round(cpu[True], 4),
                "baseline_cpu_ms_per_append": round(cpu[False], 4),
                "control_ratio": round(loop_rate[True] / loop_rate[False], 3),
                "control_cpu_ratio": round(loop_cpu[True] / loop_cpu[False], 3),
            }
        )
    )


if __name__ == "__main__":
    install_loop("asyncio")
    asyncio.run(main())
