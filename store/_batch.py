"""One batch's transaction as a sans-I/O script, and the SQL of each database.

``script`` is a generator: it yields the statements of the batch in order, as
``Step``s, and is sent each one's rows back. The SQLite backend drives it with
stdlib ``sqlite3``, a batch of up to ``INLINE_JOBS`` on the event loop itself
and a larger one (or any, with ``synchronous=FULL`` or the write lock taken)
on its writer thread in one hop (``store/_writer_sqlite.py``); the PostgreSQL
backend drives it with asyncpg. The two differ only in their
``Dialect``: how a list of ids is matched, and how many rows go in as one
statement (asyncpg: ``unnest`` arrays, one round trip; sqlite3: executemany).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any, Literal

from store._lru import Remembered
from store._ops import Insert, Op, Style, grouped
from store._plan import (
    ENTRY_COLUMNS,
    HEAD_COLUMNS,
    NARROW_HEAD,
    SESSION_COLUMNS,
    Command,
    Connect,
    Create,
    Disconnect,
    Job,
    Memos,
    Row,
    plan,
)
from store._tree import NodeRow
from store._tree_state import stored_edge


@dataclass(frozen=True, slots=True)
class Step:
    """``fetch``: run once, send back the rows; ``many``: executemany, send back None."""

    kind: Literal["fetch", "many"]
    sql: str
    args: Any


Script = Generator[Step, Any, list[Any]]


class Dialect:
    style: Style = "qmark"

    def lock_sessions(self, ids: Sequence[str]) -> Step:
        cols = ", ".join(SESSION_COLUMNS)
        marks = ", ".join("?" for _ in ids)
        # SQLite: the whole database is locked by BEGIN IMMEDIATE already.
        return Step("fetch", f"SELECT {cols} FROM courtroom_sessions WHERE id IN ({marks})", ids)

    def take_connections(self, ids: Sequence[str]) -> Step:
        marks = ", ".join("?" for _ in ids)
        return Step(
            "fetch", f"DELETE FROM live_connections WHERE id IN ({marks}) RETURNING id", ids
        )

    def count_live(self, session_id: str, user_id: str) -> Step:
        return Step(
            "fetch",
            "SELECT count(*) FROM live_connections"
            " WHERE session_id = ? AND user_id = ? AND kind = 'participant'",
            (session_id, user_id),
        )

    def insert_entries(self, rows: list[tuple[Any, ...]]) -> Step:
        cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
        marks = ", ".join("?" for _ in ENTRY_COLUMNS)
        return Step("many", f"INSERT INTO session_log_entries ({cols}) VALUES ({marks})", rows)

    def update_heads(self, rows: list[tuple[Any, ...]]) -> Step:
        sets = ", ".join(f"{c} = ?" for c in HEAD_COLUMNS)
        return Step("many", f"UPDATE courtroom_sessions SET {sets} WHERE id = ?", rows)

    def write_log(
        self,
        entries: list[tuple[Any, ...]],
        heads: list[tuple[Any, ...]],
        moved: Sequence[bool] = (),
    ) -> list[Step]:
        """The entries and the new heads (sqlite3: executemany, no round trips).

        A head that only its log, state and tree moved (``moved`` False) takes
        the narrow update: SQLite rewrites an index whenever the statement
        sets one of its columns, even to the value it holds.
        """
        steps = [self.insert_entries(entries)] if entries else []
        full = [h for h, m in zip(heads, moved, strict=True) if m] if moved else heads
        if full:
            steps.append(self.update_heads(full))
        if len(full) < len(heads):
            narrow = [_NARROW(h) for h, m in zip(heads, moved, strict=True) if not m]
            steps.append(Step("many", _UPDATE_NARROW, narrow))
        return steps

    def insert_nodes(self, nodes: list[NodeRow]) -> Step:
        """The trees' new stored nodes (their sizes and edges go with the heads)."""
        return Step("many", _INSERT_NODES, nodes)


_NARROW = itemgetter(*NARROW_HEAD)
_UPDATE_NARROW = "UPDATE courtroom_sessions SET {} WHERE id = ?".format(
    ", ".join(f"{HEAD_COLUMNS[i]} = ?" for i in NARROW_HEAD[:-1])
)


_INSERT_NODES = "INSERT INTO merkle_nodes (session_id, level, idx, hash) VALUES (?, ?, ?, ?)"


class PgDialect(Dialect):
    style: Style = "dollar"

    def lock_sessions(self, ids: Sequence[str]) -> Step:
        cols = ", ".join(SESSION_COLUMNS)
        # In id order, so that two nodes' batches can never deadlock on their rows.
        return Step(
            "fetch",
            f"SELECT {cols} FROM courtroom_sessions WHERE id = ANY($1::varchar[])"
            " ORDER BY id FOR UPDATE",
            (list(ids),),
        )

    def take_connections(self, ids: Sequence[str]) -> Step:
        return Step(
            "fetch",
            "DELETE FROM live_connections WHERE id = ANY($1::varchar[]) RETURNING id",
            (list(ids),),
        )

    def count_live(self, session_id: str, user_id: str) -> Step:
        return Step(
            "fetch",
            "SELECT count(*) FROM live_connections"
            " WHERE session_id = $1 AND user_id = $2 AND kind = 'participant'",
            (session_id, user_id),
        )

    def insert_entries(self, rows: list[tuple[Any, ...]]) -> Step:
        return Step("fetch", _insert_entries(1), _columns(rows))

    def update_heads(self, rows: list[tuple[Any, ...]]) -> Step:
        return Step("fetch", _update_heads(1), _columns(rows))

    def write_log(
        self,
        entries: list[tuple[Any, ...]],
        heads: list[tuple[Any, ...]],
        moved: Sequence[bool] = (),
    ) -> list[Step]:
        """Entries and heads in one statement (a data-modifying CTE): one round trip.

        Always the full head update: PostgreSQL compares the values and keeps
        the update heap-only when no indexed one changed.
        """
        if not (entries and heads):
            return super().write_log(entries, heads)
        sql = f"WITH appended AS ({_insert_entries(1)}) {_update_heads(len(ENTRY_COLUMNS) + 1)}"
        return [Step("fetch", sql, _columns(entries) + _columns(heads))]

    def write_if_unchanged(
        self,
        entries: list[tuple[Any, ...]],
        heads: list[tuple[Any, ...]],
        nodes: list[NodeRow] | None = None,
    ) -> Step:
        """Entries and heads planned from remembered rows, as one statement (``store/_heads.py``).

        ``heads`` rows are the head values, the id, then the remembered
        ``head_seq``, ``timer_owner``, ``timer_fence`` and ``tree_size``: a
        session's head is updated only if its row still holds those, and its
        entries (and its tree's ``nodes``) are written only if its head was.
        Returns the ids of the sessions written.
        """
        if len(heads) == 1 and 0 < len(entries) <= _ONE_SESSION_MAX:
            # One session (a lone command, a client's sequential commands): plain
            # parameters, no arrays to build, send and unnest; ~0.1 ms less a statement.
            one = tuple(v for e in entries for v in e) + heads[0]
            if not nodes:
                return Step("fetch", _write_one_if_unchanged(len(entries)), one)
            sql = _write_one_if_unchanged(len(entries), nodes_from=len(one) + 1)
            return Step("fetch", sql, one + _columns(nodes))
        args = _columns(entries) + _columns(heads)
        if not nodes:
            return Step("fetch", _write_if_unchanged(), args)
        sql = _write_if_unchanged(nodes_from=len(args) + 1)
        return Step("fetch", sql, args + _columns(nodes))

    def insert_nodes(self, nodes: list[NodeRow]) -> Step:
        return Step("fetch", _insert_nodes(1), _columns(nodes))


def _columns(rows: list[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """Rows as one array per column, for ``unnest``."""
    return tuple(list(col) for col in zip(*rows, strict=True))


def _unnest(types: tuple[str, ...], first: int) -> str:
    return ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, start=first))


_ENTRY_TYPES = ("varchar", "bigint", "varchar", "varchar", "varchar", "text", *("varchar",) * 3)


@cache
def _insert_entries(first: int) -> str:
    cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
    return f"INSERT INTO session_log_entries ({cols}) SELECT * FROM unnest({_unnest(_ENTRY_TYPES, first)})"


@cache
def _update_heads(first: int) -> str:
    types = _HEAD_TYPES
    sets = ", ".join(f"{c} = v.{c}" for c in HEAD_COLUMNS)
    names = ", ".join((*HEAD_COLUMNS, "id"))
    return (
        f"UPDATE courtroom_sessions AS s SET {sets}"
        f" FROM unnest({_unnest((*types, 'varchar'), first)}) AS v({names}) WHERE s.id = v.id"
    )


_HEAD_TYPES = (
    *("bigint", "varchar", "text", "varchar", "bigint", "varchar", "bigint", "bigint"),
    *("bigint", "bytea"),  # tree_size, tree_frontier
)
# What a remembered row must still hold: the id, then ``head_seq``, ``timer_owner``,
# ``timer_fence`` and ``tree_size`` (the record keeper catches up a tree left behind).
_WAS = ("id", "was_seq", "was_owner", "was_fence", "was_tree")
_WAS_TYPES = ("varchar", "bigint", "varchar", "bigint", "bigint")
_ONE_SESSION_MAX = 16  # entries; a longer one-session batch takes the arrays


def _conditional_head(v: dict[str, str], source: str = "") -> str:
    """The ``upd`` CTE: update a session's head only if its row is still as remembered.

    Args:
        v: each of ``HEAD_COLUMNS`` and ``id``, ``was_seq``, ``was_owner``,
            ``was_fence`` → the SQL expression of its new or remembered value.
        source: a ``FROM`` clause those expressions need.
    """
    sets = ", ".join(f"{c} = {v[c]}" for c in HEAD_COLUMNS if c != "timer_lease_until")
    lease = v["timer_lease_until"]
    return (
        f"upd AS (UPDATE courtroom_sessions AS s SET {sets},"
        # A lease renewed since it was remembered is kept, not shortened.
        f"  timer_lease_until = CASE WHEN {lease} IS NULL THEN NULL"
        f"   ELSE GREATEST(s.timer_lease_until, {lease}) END"
        f" {source} WHERE s.id = {v['id']} AND s.head_seq = {v['was_seq']}"
        f"  AND s.timer_fence = {v['was_fence']} AND s.tree_size = {v['was_tree']}"
        f"  AND s.timer_owner IS NOT DISTINCT FROM {v['was_owner']} RETURNING s.id)"
    )


_NODE_TYPES = ("varchar", "smallint", "bigint", "bytea")


@cache
def _insert_nodes(first: int, only_written: bool = False) -> str:
    """Insert tree nodes; ``only_written``: of the sessions in the CTE ``upd``."""
    return (
        "INSERT INTO merkle_nodes (session_id, level, idx, hash)"
        f" SELECT * FROM unnest({_unnest(_NODE_TYPES, first)}) AS n(session_id, level, idx, hash)"
        + (" WHERE session_id IN (SELECT id FROM upd)" if only_written else "")
    )


@cache
def _write_if_unchanged(nodes_from: int = 0) -> str:
    n = len(ENTRY_COLUMNS)
    names = (*HEAD_COLUMNS, *_WAS)
    cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
    heads = _unnest((*_HEAD_TYPES, *_WAS_TYPES), n + 1)
    upd = _conditional_head({c: f"v.{c}" for c in names}, "FROM v")
    return (
        f"WITH v AS (SELECT * FROM unnest({heads}) AS v({', '.join(names)})), {upd},"
        f" ins AS (INSERT INTO session_log_entries ({cols})"
        f"  SELECT * FROM unnest({_unnest(_ENTRY_TYPES, 1)}) AS e({cols})"
        "  WHERE e.session_id IN (SELECT id FROM upd))"
        + (f", tn AS ({_insert_nodes(nodes_from, True)})" if nodes_from else "")
        + " SELECT id FROM upd"
    )


@cache
def _write_one_if_unchanged(entries: int, nodes_from: int = 0) -> str:
    """``_write_if_unchanged`` for one session's ``entries`` entries, as plain parameters."""
    n = len(ENTRY_COLUMNS)
    cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(f"${k * n + i}::{t}" for i, t in enumerate(_ENTRY_TYPES, 1)) + ")"
        for k in range(entries)
    )
    first = entries * n + 1
    names = (*HEAD_COLUMNS, *_WAS)
    types = (*_HEAD_TYPES, *_WAS_TYPES)
    upd = _conditional_head(
        {c: f"${i}::{t}" for i, (c, t) in enumerate(zip(names, types, strict=True), first)}
    )
    return (
        f"WITH {upd},"
        f" ins AS (INSERT INTO session_log_entries ({cols})"
        f"  SELECT * FROM (VALUES {values}) AS e WHERE EXISTS (SELECT FROM upd))"
        + (f", tn AS ({_insert_nodes(nodes_from, True)})" if nodes_from else "")
        + " SELECT id FROM upd"
    )


def script(
    jobs: Sequence[Job],
    d: Dialect,
    seen: dict[str, Row] | None = None,
    memos: Memos | None = None,
    trees: bool = True,
    known: Remembered[Row] | None = None,
) -> Script:
    """The batch's statements in order; returns one outcome per job.

    Args:
        seen: filled with the batch's session rows as the batch leaves them
            (for the backend's memory of them once the batch has committed:
            PostgreSQL's ``HeadCache``, SQLite's remembered rows).
        memos: the backend's decoded states, kept between batches.
        trees: grow the sessions' Merkle trees in the batch (``store/_tree.py``).
        known: rows the backend knows to be what the database holds (SQLite,
            under its write lock, when no other connection has committed since
            this one last did); only the sessions missing from it are read.
            The batch updates them in place: a failed batch's must be dropped.
    """
    # One pass by exact type (a failed isinstance costs more than the rest of the loop).
    connects: list[Op] = []
    gone: list[str] = []
    writes: set[str] = set()
    for j in jobs:
        if type(j) is Command or type(j) is Create:
            writes.add(j.session_id)
        elif type(j) is Connect:
            connects.append(Insert.row("live_connections", j.row))
        elif type(j) is Disconnect:
            gone.append(j.connection_id)
    # Presence first, so the live counts read below include this batch's rows.
    yield from _ops(connects, d)
    removed = {str(r[0]) for r in (yield d.take_connections(gone))} if gone else set()

    ids = sorted(writes)
    rows: dict[str, Row] = {}
    if ids and known is not None:
        read = []
        for sid in ids:
            row = known.get(sid)
            if row is None:
                read.append(sid)
            else:
                rows[sid] = row
        ids = read
    if ids:
        for r in (yield d.lock_sessions(ids)):
            rows[str(r[0])] = Row(
                int(r[1]), r[2], r[3], r[4], int(r[5]), r[6], r[9], r[10], False, int(r[7]),
                stored_edge(r[8]),
            )  # fmt: skip
    live: dict[tuple[str, str], int] = {}
    for j in jobs:
        if isinstance(j, Command) and j.live_user is not None:
            key = (j.session_id, j.live_user)
            if key not in live:
                live[key] = int((yield d.count_live(*key))[0][0])

    p = plan(jobs, rows, live, removed, memos, trees)
    if seen is not None:
        seen.update(rows)
    yield from _ops(p.new_sessions, d)
    # Not ``yield from`` a list: the driver sends each step's rows back in.
    for step in d.write_log(p.entries, p.heads, p.moved):  # noqa: UP028
        yield step
    if p.nodes:
        yield d.insert_nodes(p.nodes)
    yield from _ops(p.ops, d)
    return p.outcomes


def _ops(ops: Sequence[Op], d: Dialect) -> Generator[Step, Any, None]:
    for sql, rows in grouped(ops, d.style):
        yield Step("many", sql, rows)
