"""Instructions per appended command, counted by callgrind: a figure this VM's noise cannot move.

    .venv/bin/python bench/bench_instructions.py [--sessions 64] [--per 5] [--extra 40]
                                                  [--backend sqlite|postgres|both] [--quick]

The append load of bench_tree_cost.py (``--sessions`` sessions, one client each
sending NOTE commands through ``Courtroom.execute``) runs in a child Python
under ``valgrind --tool=callgrind``, twice per case: with ``--per`` commands a
session and with ``--per + --extra``, so that start-up, imports, migrations and
session creation cancel out:

    instructions per command = (count of the long run - count of the short run)
                               / (sessions * extra)

Cases: **without** the Merkle tree (``SessionStore(trees=False)``, no record
keeper: the baseline) and **with** it (the writer growing each tree in its
batches, the keeper hooked in), the two cases of bench_tree_cost.py.

Valgrind counts the instructions this process executes, not time: the same
code and inputs give nearly the same count whatever else the machine does (two
runs of one configuration within 1 % with the default ``--extra``; ±3 % with
``--extra 10``, as the threads' interleaving still moves a little), which a
wall-clock A/B on this VM cannot promise (rounds spread ±15 %). What it
does not see: caches, the GIL's waits, and other processes (on PostgreSQL the
database's own work is not counted; on SQLite it is, in-process). Valgrind's
CPU model also lacks the SHA extensions, so OpenSSL takes its generic SHA-256
code under it, with more instructions than on this CPU natively: the tree's
hashing is overstated, never understated. Needs ``valgrind`` on the PATH (Debian's package); takes a few
minutes (two children at a time).

Ends with one JSON line per case (``{"bench": "instructions", ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from _common import machine, scratch_pg

HERE = Path(__file__).resolve().parent
_COUNT = re.compile(r"Collected : (\d+)")


async def _count(url: str, with_tree: bool, sessions: int, per: int) -> int:
    """Instructions of one child run of the load."""
    proc = await asyncio.create_subprocess_exec(
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(HERE / "_icount_load.py"),
        url,
        "1" if with_tree else "0",
        str(sessions),
        str(per),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    found = _COUNT.search(err.decode(errors="replace"))
    if proc.returncode != 0 or found is None:
        tail = err.decode(errors="replace")[-2000:]
        raise RuntimeError(f"the counted run failed (exit {proc.returncode}):\n{tail}")
    return int(found.group(1))


async def _database(stack: contextlib.AsyncExitStack, backend: str, tmp: Path, name: str) -> str:
    """A database of its own for one child: a file, or a scratch PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / name}.db"
    url = await stack.enter_async_context(scratch_pg())
    if url is None:
        raise RuntimeError("PostgreSQL is not reachable")
    return url


async def per_command(backend: str, with_tree: bool, args: argparse.Namespace) -> float:
    short, long_ = args.per, args.per + args.extra
    with tempfile.TemporaryDirectory(prefix="bench-icount-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            urls = [await _database(stack, backend, Path(tmp), f"run{n}") for n in (short, long_)]
            a, b = await asyncio.gather(
                _count(urls[0], with_tree, args.sessions, short),
                _count(urls[1], with_tree, args.sessions, long_),
            )
    counted: int = args.sessions * args.extra
    return (b - a) / counted


async def main(args: argparse.Namespace) -> int:
    if shutil.which("valgrind") is None:
        print("bench_instructions: valgrind is not on the PATH (apt-get install valgrind)")
        return 2
    print(f"bench_instructions: {machine()}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    out = []
    for backend in backends:
        without = await per_command(backend, False, args)
        with_tree = await per_command(backend, True, args)
        out.append((backend, without, with_tree))
    print()
    print(
        f"instructions per appended command ({args.sessions} sessions, {args.extra} commands each counted)"
    )
    print(f"{'backend':<10}  {'without tree':>14}  {'with tree':>14}  {'tree adds':>10}")
    for backend, without, with_tree in out:
        print(
            f"{backend:<10}  {without:>14,.0f}  {with_tree:>14,.0f}"
            f"  {with_tree / without - 1:>+10.1%}"
        )
    for backend, without, with_tree in out:
        common = {"bench": "instructions", "backend": backend, "sessions": args.sessions}
        print(json.dumps({**common, "case": "without tree", "per_command": round(without)}))
        print(
            json.dumps(
                {
                    **common,
                    "case": "with tree",
                    "per_command": round(with_tree),
                    "baseline_per_command": round(without),
                }
            )
        )
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--per", type=int, default=5, help="commands a session in the short run")
    ap.add_argument("--extra", type=int, default=40, help="more commands a session in the long run")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--quick", action="store_true", help="16 sessions, 10 commands counted")
    ns = ap.parse_args()
    if ns.quick:
        ns.sessions, ns.extra = 16, 10
    sys.exit(asyncio.run(main(ns)))
