"""The append cost of the Merkle tree and checkpoints, alternated on a shared machine.

The same load as bench_bundle.py's append case (``k`` sessions, one client
each sending ``per`` NOTE commands through ``Courtroom.execute``), run as
``rounds`` alternations of two cases in one process, each on fresh sessions
of its own database:

- **without**: the write path alone (``SessionStore(trees=False)``, no keeper);
- **with**: the writer growing each tree in its batches and the record keeper
  signing after the commit (its boundaries as in a real session: none for NOTE).

Besides appends/s (wall clock until the clients are done, which other
processes' load moves), it reports this process's CPU seconds per 1,000
appends, counted until the keeper is idle too (work it deferred past the
clients counts): on SQLite that holds the writer thread and the database work
as well, so it is the figure that the load of a shared machine disturbs least
(on PostgreSQL the server's own CPU is not in it: that is read apart, from the
CPU of the machine's ``postgres`` processes over the same span, and added to
this process's for a figure of the append's whole cost, and so are the WAL
bytes PostgreSQL wrote per append, the one figure here that the machine's
speed cannot move; every ``postgres`` process and all of the server's WAL
count, so another client of the server inflates both cases). Ratios are of medians over
the rounds, and "round by round" is the median of each round's own ratio (its
two cases ran back to back, so the machine's drift over the run cancels). The
script also runs against a commit
from before the writer grew trees (its keeper then builds them): copy it there
for an A/B.

    .venv/bin/python bench/bench_tree_cost.py --rounds 5 --backend both   # [--quick] [--revision 0006]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time

import asyncpg
from _common import cpu_by_name, cpu_since, install_loop, machine
from bench_bundle import JUDGE, _database
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.common.signing import Keyring
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.record import RecordKeeper
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from store import RecordStore, SessionStore, migrate
from timers import system_clock


async def one(url: str, with_tree: bool, k: int, per: int) -> tuple[float, float, float, float]:
    """One run: (appends/s, CPU seconds per 1,000 appends, the database server's
    CPU seconds per 1,000 appends: PostgreSQL's processes, 0 on SQLite; the WAL
    bytes PostgreSQL wrote per append, 0 on SQLite)."""
    try:
        store = SessionStore(url, trees=with_tree)
    except TypeError:  # a commit before the writer grew trees (an A/B against it)
        store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    keeper = None
    if with_tree:
        ring = Keyring("c", Ed25519PrivateKey.generate(), [])
        keeper = RecordKeeper(store, RecordStore(store), ring, system_clock)
        court.on_commit(keeper.hook)
        await keeper.start()
        await keeper.idle()  # the trees of the other case's sessions, caught up
    try:
        created = await asyncio.gather(*(court.create_session(JUDGE) for _ in range(k)))
        sids = [c.entries[0].session_id for c in created]

        async def client(s: str) -> None:
            for i in range(per):
                await court.execute(s, LogCustom("NOTE", {"i": i}), JUDGE)

        # Each case starts from the same collector state: the keeper's catch-up
        # of the other case's sessions (above) must not leave a full collection
        # due inside this case's timed span.
        gc.collect()
        pg = url.startswith("postgresql")
        db0 = cpu_by_name(_DB) if pg else {}
        wal0 = await _wal(url) if pg else 0
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(s) for s in sids))
        dt = time.perf_counter() - t0  # as the clients saw it
        if keeper is not None:
            await keeper.idle()  # its CPU counts even when deferred past the clients
        cpu = time.process_time() - c0
        db = cpu_since(db0, cpu_by_name(_DB)) if pg else 0.0  # before the backends end
        wal = (await _wal(url) - wal0) / (k * per) if pg else 0.0
        if keeper is not None:
            sizes = [(await keeper.sync(s)) for s in sids]
            assert sizes == [per + 1] * k, sizes
        return k * per / dt, cpu / (k * per) * 1000, db / (k * per) * 1000, wal
    finally:
        if keeper is not None:
            await keeper.close()
        await store.close()


_DB = ("postgres",)  # PostgreSQL's server, backends and background workers


async def _wal(url: str) -> int:
    """PostgreSQL's WAL position in bytes (the whole server's: run it with no other client)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


# case → (appends/s, CPU s per 1,000, the database's CPU s per 1,000, WAL bytes an append) a round
Runs = dict[bool, list[tuple[float, float, float, float]]]


def load_args(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """The load's options (rounds, sessions, commands each, ``--quick``), parsed."""
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--per", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="1 round of 16 sessions x 20")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.sessions, args.per = 1, 16, 20
    return args


def paired(runs: Runs) -> float:
    """The median of each round's ratio (its two cases ran back to back): the
    machine's drift over a run, which moves both cases of a round alike, cancels."""
    return statistics.median(t[0] / f[0] for t, f in zip(runs[True], runs[False], strict=True))


def report(
    head: str, names: tuple[str, str], runs: Runs
) -> tuple[dict[bool, float], dict[bool, float]]:
    """Print the two cases' medians, their ratio and every round; the medians."""
    rate = {w: statistics.median(x[0] for x in runs[w]) for w in runs}
    cpu = {w: statistics.median(x[1] for x in runs[w]) for w in runs}
    print(
        f"{head}: {names[0]} {rate[False]:,.0f}/s ({cpu[False]:.3f} CPU s per 1,000),"
        f" {names[1]} {rate[True]:,.0f}/s ({cpu[True]:.3f}):"
        f" rate {rate[True] / rate[False]:.3f}x, CPU {cpu[True] / cpu[False]:.3f}x;"
        f" round by round {paired(runs):.3f}x"
    )
    for w in runs:
        print(f"  {head} {names[w]}: " + ", ".join(f"{a:,.0f}/s {c:.3f}" for a, c, *_ in runs[w]))
    return rate, cpu


def report_db(head: str, runs: Runs) -> dict[bool, tuple[float, float, float]]:
    """Print the database server's CPU and this process's plus it, per 1,000
    appends (medians, and the round-by-round ratio of the sum), and the WAL bytes
    per append; those medians."""
    db = {w: statistics.median(x[2] for x in runs[w]) for w in runs}
    both = {w: statistics.median(x[1] + x[2] for x in runs[w]) for w in runs}
    by_round = statistics.median(
        (t[1] + t[2]) / (f[1] + f[2]) for t, f in zip(runs[True], runs[False], strict=True)
    )
    print(
        f"  {head} database CPU s per 1,000: without {db[False]:.3f}, with tree {db[True]:.3f}"
        f" ({db[True] / db[False]:.3f}x); with this process's: {both[False]:.3f} and"
        f" {both[True]:.3f} ({both[True] / both[False]:.3f}x, round by round {by_round:.3f}x)"
    )
    for w in runs:
        print(
            f"  {head} database {w and 'with' or 'without'}: "
            + ", ".join(f"{x[2]:.3f}" for x in runs[w])
        )
    wal = {w: statistics.median(x[3] for x in runs[w]) for w in runs}
    print(
        f"  {head} WAL bytes per append: without {wal[False]:,.0f}, with tree {wal[True]:,.0f}"
        f" ({wal[True] / wal[False]:.3f}x)"
    )
    return {w: (db[w], both[w], wal[w]) for w in runs}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument(
        "--revision",
        default="head",
        help="migrate the databases to this revision, e.g. 0006: the session row's"
        " columns in their order before 0007 (head)",
    )
    args = load_args(ap)
    print(machine())
    out = []
    for b in [b for b in ("sqlite", "postgres") if args.backend in (b, "both")]:
        # A database for each case: the keeper of the case with the tree would
        # otherwise catch up the other case's sessions between rounds (work, and
        # pages to write back, that a server growing its trees never has).
        async with _database(b) as plain, _database(b) as treed:
            assert plain is not None and treed is not None
            urls = {False: plain, True: treed}
            for with_tree, url in urls.items():
                await migrate(url, args.revision)
                await one(url, with_tree, 8, 10)  # warm up (connections, statement caches)
            runs: Runs = {False: [], True: []}
            for r in range(args.rounds):
                for with_tree in (False, True) if r % 2 == 0 else (True, False):
                    runs[with_tree].append(
                        await one(urls[with_tree], with_tree, args.sessions, args.per)
                    )
        rate, cpu = report(b, ("without", "with tree"), runs)
        db = report_db(b, runs) if b == "postgres" else None
        out.append(
            {
                "bench": "tree_append_cost",
                "backend": b,
                "rounds": args.rounds,
                "per_s": round(rate[True]),
                "baseline_per_s": round(rate[False]),
                "paired_ratio": round(paired(runs), 4),
                "cpu_ms_per_append": round(cpu[True], 4),
                "baseline_cpu_ms_per_append": round(cpu[False], 4),
            }
        )
        if db is not None:  # PostgreSQL's own CPU, and the sum of both processes'
            out[-1]["db_cpu_ms_per_append"] = round(db[True][0], 4)
            out[-1]["baseline_db_cpu_ms_per_append"] = round(db[False][0], 4)
            out[-1]["total_cpu_ms_per_append"] = round(db[True][1], 4)
            out[-1]["baseline_total_cpu_ms_per_append"] = round(db[False][1], 4)
            out[-1]["wal_bytes_per_append"] = round(db[True][2])
            out[-1]["baseline_wal_bytes_per_append"] = round(db[False][2])
    for o in out:
        print(json.dumps(o))


if __name__ == "__main__":
    install_loop("asyncio")
    asyncio.run(main())
