"""One batch's transaction as a sans-I/O script, and the SQL of each database.

``script`` is a generator: it yields the statements of the batch in order, as
``Step``s, and is sent each one's rows back. The SQLite backend drives it with
stdlib ``sqlite3`` on its writer thread (the whole batch in one thread hop);
the PostgreSQL backend drives it with asyncpg. The two differ only in their
``Dialect``: how a list of ids is matched, and how many rows go in as one
statement (asyncpg: ``unnest`` arrays, one round trip; sqlite3: executemany).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from store._ops import Insert, Op, Style, grouped
from store._plan import (
    ENTRY_COLUMNS,
    HEAD_COLUMNS,
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
from store._tree import Growth, TreeState, at_head, grow


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

    def write_log(self, entries: list[tuple[Any, ...]], heads: list[tuple[Any, ...]]) -> list[Step]:
        """The entries and the new heads (sqlite3: two executemany, no round trips)."""
        steps = [self.insert_entries(entries)] if entries else []
        return steps + ([self.update_heads(heads)] if heads else [])

    def read_trees(self, ids: Sequence[str]) -> Step:
        marks = ", ".join("?" for _ in ids)
        return Step(
            "fetch",
            f"SELECT session_id, size, frontier FROM merkle_trees WHERE session_id IN ({marks})",
            ids,
        )

    def write_trees(self, g: Growth) -> list[Step]:
        """The batch's tree nodes and each grown tree's new size and edge."""
        steps = [Step("many", _INSERT_NODES, g.nodes)] if g.nodes else []
        return steps + [Step("many", _UPSERT_TREES, g.tree_rows())]


_INSERT_NODES = "INSERT INTO merkle_nodes (session_id, level, idx, hash) VALUES (?, ?, ?, ?)"
_UPSERT_TREES = (
    "INSERT INTO merkle_trees (session_id, size, frontier) VALUES (?, ?, ?)"
    " ON CONFLICT (session_id) DO UPDATE SET size = excluded.size, frontier = excluded.frontier"
)


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

    def write_log(self, entries: list[tuple[Any, ...]], heads: list[tuple[Any, ...]]) -> list[Step]:
        """Entries and heads in one statement (a data-modifying CTE): one round trip."""
        if not (entries and heads):
            return super().write_log(entries, heads)
        sql = f"WITH appended AS ({_insert_entries(1)}) {_update_heads(len(ENTRY_COLUMNS) + 1)}"
        return [Step("fetch", sql, _columns(entries) + _columns(heads))]

    def write_if_unchanged(
        self,
        entries: list[tuple[Any, ...]],
        heads: list[tuple[Any, ...]],
        growth: Growth | None = None,
    ) -> Step:
        """Entries and heads planned from remembered rows, as one statement (``store/_heads.py``).

        ``heads`` rows are the head values, the id, then the remembered
        ``head_seq``, ``timer_owner`` and ``timer_fence``: a session's head is
        updated only if its row still holds those, and its entries (and its
        tree's nodes and size, with ``growth``) are written only if its head
        was. Returns the ids of the sessions written.
        """
        if len(heads) == 1 and 0 < len(entries) <= _ONE_SESSION_MAX:
            # One session (a lone command, a client's sequential commands): plain
            # parameters, no arrays to build, send and unnest; ~0.1 ms less a statement.
            one = tuple(v for e in entries for v in e) + heads[0]
            if growth is None:
                return Step("fetch", _write_one_if_unchanged(len(entries)), one)
            sql = _write_one_if_unchanged(len(entries), tree_from=len(one) + 1)
            return Step("fetch", sql, one + _tree_columns(growth))
        args = _columns(entries) + _columns(heads)
        if growth is None:
            return Step("fetch", _write_if_unchanged(), args)
        sql = _write_if_unchanged(tree_from=len(args) + 1)
        return Step("fetch", sql, args + _tree_columns(growth))

    def read_trees(self, ids: Sequence[str]) -> Step:
        # Locked after the sessions (the keeper's catch-up takes them in that order too).
        return Step(
            "fetch",
            "SELECT session_id, size, frontier FROM merkle_trees"
            " WHERE session_id = ANY($1::varchar[]) ORDER BY session_id FOR UPDATE",
            (list(ids),),
        )

    def write_trees(self, g: Growth) -> list[Step]:
        """Nodes and tree rows in one statement (a data-modifying CTE): one round trip."""
        return [Step("fetch", _write_trees(1), _tree_columns(g))]


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


_HEAD_TYPES = ("bigint", "varchar", "text", "varchar", "bigint", "varchar", "bigint", "bigint")
# What a remembered row must still hold: the id, then ``head_seq``, ``timer_owner``, ``timer_fence``.
_WAS = ("id", "was_seq", "was_owner", "was_fence")
_WAS_TYPES = ("varchar", "bigint", "varchar", "bigint")
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
        f"  AND s.timer_fence = {v['was_fence']}"
        f"  AND s.timer_owner IS NOT DISTINCT FROM {v['was_owner']} RETURNING s.id)"
    )


_NODE_TYPES = ("varchar", "smallint", "bigint", "bytea")
_TREE_TYPES = ("varchar", "bigint", "text")


def _tree_columns(g: Growth) -> tuple[list[Any], ...]:
    nodes = _columns(g.nodes) if g.nodes else ([], [], [], [])
    return nodes + _columns(g.tree_rows())


@cache
def _write_trees(first: int, only_written: bool = False) -> str:
    """Insert nodes, upsert tree rows; ``only_written``: of the sessions in the CTE ``upd``."""
    tree_first = first + len(_NODE_TYPES)
    where = " WHERE session_id IN (SELECT id FROM upd)" if only_written else ""
    nodes = (
        "INSERT INTO merkle_nodes (session_id, level, idx, hash)"
        f" SELECT * FROM unnest({_unnest(_NODE_TYPES, first)}) AS n(session_id, level, idx, hash)"
        + where
    )
    trees = (
        "INSERT INTO merkle_trees (session_id, size, frontier)"
        f" SELECT * FROM unnest({_unnest(_TREE_TYPES, tree_first)}) AS t(session_id, size, frontier)"
        + where
        + " ON CONFLICT (session_id) DO UPDATE SET size = excluded.size, frontier = excluded.frontier"
    )
    if only_written:
        return f"tn AS ({nodes}), tt AS ({trees})"
    return f"WITH tn AS ({nodes}) {trees}"


@cache
def _write_if_unchanged(tree_from: int = 0) -> str:
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
        + (f", {_write_trees(tree_from, True)}" if tree_from else "")
        + " SELECT id FROM upd"
    )


@cache
def _write_one_if_unchanged(entries: int, tree_from: int = 0) -> str:
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
        + (f", {_write_trees(tree_from, True)}" if tree_from else "")
        + " SELECT id FROM upd"
    )


def script(
    jobs: Sequence[Job],
    d: Dialect,
    seen: dict[str, Row] | None = None,
    memos: Memos | None = None,
    grown: dict[str, TreeState] | None = None,
) -> Script:
    """The batch's statements in order; returns one outcome per job.

    Args:
        seen: filled with the batch's session rows as the batch leaves them
            (for the backend's ``HeadCache`` once the batch has committed).
        memos: the backend's decoded states, kept between batches.
        grown: if given, the sessions' Merkle trees are grown in the batch
            (``store/_tree.py``) and this is filled with each grown tree's new state.
    """
    # Presence first, so the live counts read below include this batch's rows.
    connects: list[Op] = [
        Insert.row("live_connections", j.row) for j in jobs if isinstance(j, Connect)
    ]
    yield from _ops(connects, d)
    gone = [j.connection_id for j in jobs if isinstance(j, Disconnect)]
    removed = {str(r[0]) for r in (yield d.take_connections(gone))} if gone else set()

    ids = sorted({j.session_id for j in jobs if isinstance(j, Command | Create)})
    rows: dict[str, Row] = {}
    if ids:
        for r in (yield d.lock_sessions(ids)):
            rows[str(r[0])] = Row(int(r[1]), r[2], r[3], r[4], int(r[5]), r[6])
    trees: dict[str, TreeState] = {}
    if grown is not None and ids:
        stored = {str(r[0]): TreeState.parse(int(r[1]), r[2]) for r in (yield d.read_trees(ids))}
        trees = at_head(ids, {sid: r.head_seq for sid, r in rows.items()}, stored)
    live: dict[tuple[str, str], int] = {}
    for j in jobs:
        if isinstance(j, Command) and j.live_user is not None:
            key = (j.session_id, j.live_user)
            if key not in live:
                live[key] = int((yield d.count_live(*key))[0][0])

    p = plan(jobs, rows, live, removed, memos)
    if seen is not None:
        seen.update(rows)
    yield from _ops(p.new_sessions, d)
    # Not ``yield from`` a list: the driver sends each step's rows back in.
    for step in d.write_log(p.entries, p.heads):  # noqa: UP028
        yield step
    if grown is not None:
        growth = grow(p.outcomes, trees)
        if growth.trees:
            for step in d.write_trees(growth):  # noqa: UP028
                yield step
        grown.update(growth.trees)
    yield from _ops(p.ops, d)
    return p.outcomes


def _ops(ops: Sequence[Op], d: Dialect) -> Generator[Step, Any, None]:
    for sql, rows in grouped(ops, d.style):
        yield Step("many", sql, rows)
