"""The remembered-head statement alone on PostgreSQL: its shapes and schemas, with a baseline.

    .venv/bin/python bench/bench_pg_statement.py [--quick] [--n 1000] [--explain]

A PostgreSQL command on a session this writer committed last is one
autocommitted statement (``store/_heads.py``): the session's head update,
conditional on the row, and its entry's insert. This times that statement by
itself, no rules and no writer around it, on a scratch database: each case has
tables of its own (a copy of ``courtroom_sessions`` with one session, a copy of
``session_log_entries``) and the cases take turns, one statement each, ``--n``
times, so a disturbance hits them all alike. Cases:

* the statement as ``store/_batch.py`` writes it for any batch (one array per
  column, ``unnest``) and for a one-session batch (plain parameters), each
  with and without the entries' foreign key to the session row (migration
  0005 dropped it);
* plain parameters with a running session's state (~6 KB of JSON, made by the
  rules: four speakers seated, three rounds) compressed with pglz, then lz4
  (migration 0005 sets lz4);
* baseline: one entry's bare ``INSERT``, autocommitted (one round trip and
  one WAL flush, as every case).

Ends with one JSON line per case. ``--explain`` prints ``EXPLAIN (ANALYZE,
BUFFERS, WAL)`` of each case once (in a rolled-back transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from _common import Neighbours, Row, install_loop, machine, print_table, scratch_pg

from server.rules import commands as c
from server.rules.session import RulesConfig, create, evolve, handle, initial_state
from server.rules.state import Actor
from store import migrate
from store._batch import PgDialect, _columns, _write_if_unchanged
from store._plan import ENTRY_COLUMNS

SID = "00000000-0000-4000-8000-000000000001"
BASELINE = "bare INSERT of one entry, autocommitted"


def state_json(*, running: bool) -> str:
    """A new session's state, or (``running``) four speakers seated, started, three rounds."""
    judge = Actor("1", "JUDGE", "Judge")
    first = create(c.CreateSession(session_id=SID, title="bench"), judge, 0)
    state = initial_state(SID, first.details, 0)
    evolve(state, first.event_type, first.details, first.actor_id, 0)
    if not running:
        return orjson.dumps(state.to_dict()).decode()
    config = RulesConfig()
    cmds: list[tuple[Any, Actor]] = [
        (c.Join(side, n), Actor(f"{10 * i + n}", "STUDENT", f"S{i}{n}"))
        for i, side in enumerate(("petitioner", "respondent"), 1)
        for n in (1, 2)
    ]
    cmds.append((c.Start(), judge))
    kinds = ("PETITIONER_MAIN", "RESPONDENT_MAIN", "REBUTTAL")
    cmds += [(c.CreateRound(str(uuid.uuid4()), round_type=k), judge) for k in kinds]
    for cmd, actor in cmds:
        handle(state, cmd, actor, 0, config)
    return orjson.dumps(state.to_dict()).decode()


@dataclass
class Case:
    name: str
    sql: str
    state: str
    shape: str  # "arrays" | "plain" | "insert"
    seq: int = 1
    note: str = ""

    def args(self) -> tuple[Any, ...]:
        """The next command's arguments: entry ``seq + 1`` on a head at ``seq``."""
        n = self.seq + 1
        entry = (SID, n, "t", "NOTE", "1", '{"i":0}', "p" * 64, "h" * 64, "t")
        if self.shape == "insert":
            return entry
        head = (n, "h" * 64, self.state, "active", None, None, 0, None, SID, self.seq, None, 0)
        if self.shape == "arrays":
            return _columns([entry]) + _columns([head])
        return entry + head


async def make_cases(conn: asyncpg.Connection) -> list[Case]:
    plain = PgDialect().write_if_unchanged([("",) * 9], [("",) * 12]).sql
    arrays = _write_if_unchanged()
    small, big = state_json(running=False), state_json(running=True)
    cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
    marks = ", ".join(f"${i}" for i in range(1, len(ENTRY_COLUMNS) + 1))
    specs = [
        ("arrays (unnest), with FK", arrays, small, "arrays", True, "pglz"),
        ("arrays (unnest), no FK", arrays, small, "arrays", False, "pglz"),
        ("plain parameters, with FK", plain, small, "plain", True, "pglz"),
        ("plain parameters, no FK", plain, small, "plain", False, "pglz"),
        ("plain, no FK, 6 KB state, pglz", plain, big, "plain", False, "pglz"),
        ("plain, no FK, 6 KB state, lz4", plain, big, "plain", False, "lz4"),
    ]
    cases = []
    for i, (name, sql, state, shape, fk, compression) in enumerate(specs):
        s, e = f"s_{i}", f"e_{i}"
        await conn.execute(
            f"CREATE TABLE {s} (LIKE courtroom_sessions INCLUDING ALL);"
            f" CREATE TABLE {e} (LIKE session_log_entries INCLUDING ALL);"
            f" ALTER TABLE {s} ALTER COLUMN state SET COMPRESSION {compression}"
        )
        if fk:
            await conn.execute(f"ALTER TABLE {e} ADD FOREIGN KEY (session_id) REFERENCES {s} (id)")
        await conn.execute(
            f"INSERT INTO {s} (id, status, created_at, head_seq, head_hash, state)"
            " VALUES ($1, 'active', 't', 1, $2, $3)",
            SID,
            "h" * 64,
            state,
        )
        sql = sql.replace("courtroom_sessions", s).replace("session_log_entries", e)
        cases.append(Case(name, sql, state, shape, note=f"state {len(state):,} B"))
    await conn.execute("CREATE TABLE e_base (LIKE session_log_entries INCLUDING ALL)")
    insert = f"INSERT INTO e_base ({cols}) VALUES ({marks}) RETURNING session_id"
    return [Case(BASELINE, insert, "", "insert"), *cases]


async def explain(conn: asyncpg.Connection, case: Case) -> None:
    async with conn.transaction():
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, WAL) {case.sql}", *case.args())
        print(f"\n{case.name}\n" + "\n".join(f"  {r[0]}" for r in plan))
        raise _Rollback


class _Rollback(Exception):
    pass


async def main(args: argparse.Namespace) -> None:
    others = Neighbours()
    async with scratch_pg() as url:
        if url is None:
            return
        await migrate(url)
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            cases = await make_cases(conn)
            if args.explain:
                for case in cases:
                    try:
                        await explain(conn, case)
                    except _Rollback:
                        pass
            times: dict[str, list[float]] = {case.name: [] for case in cases}
            for _ in range(args.n):
                for case in cases:
                    t0 = time.perf_counter()
                    written = await conn.fetch(case.sql, *case.args())
                    times[case.name].append(time.perf_counter() - t0)
                    assert len(written) == 1, (case.name, written)
                    case.seq += 1
        finally:
            await conn.close()
    rows = [
        Row(
            case.name,
            args.n,
            args.n * statistics.median(times[case.name]),
            unit="statements/s (count / (count × median))",
            baseline=None if case.name == BASELINE else BASELINE,
            note=f"median {statistics.median(times[case.name]) * 1e3:.3f} ms; {case.note}".rstrip(
                "; "
            ),
        )
        for case in cases
    ]
    print_table(f"one remembered-head statement, autocommitted (n = {args.n} each)", rows)
    print(f"whole run: {others.line()}")
    base = statistics.median(times[BASELINE])
    for case in cases:
        med = statistics.median(times[case.name])
        line = {"bench": "pg_statement", "case": case.name, "median_ms": round(med * 1e3, 3)}
        print(json.dumps({**line, "per_s": round(1 / med), "baseline_per_s": round(1 / base)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="statements per case")
    parser.add_argument("--quick", action="store_true", help="200 statements per case")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each case once")
    parser.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    ns = parser.parse_args()
    if ns.quick:
        ns.n = 200
    print(f"bench_pg_statement: {machine()}, loop {install_loop(ns.loop)}")
    asyncio.run(main(ns))
