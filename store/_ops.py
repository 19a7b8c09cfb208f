"""Row writes as data, rendered once per SQL shape for either driver.

The batch writer (``store/_writer.py``) plans a whole batch in memory and then
writes it with the bare driver: stdlib ``sqlite3`` (``?`` placeholders) or
asyncpg (``$1``). Projections and presence therefore describe their writes as
these small values instead of executing SQLAlchemy statements, so the hot path
never builds a statement per command, and consecutive writes of the same shape
go to the database as one ``executemany``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

Style = Literal["qmark", "dollar"]


@dataclass(frozen=True, slots=True)
class Insert:
    """``INSERT INTO table (columns) VALUES (...)`` for one row."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]

    @staticmethod
    def row(table: str, row: dict[str, Any]) -> Insert:
        return Insert(table, tuple(row), tuple(row.values()))


@dataclass(frozen=True, slots=True)
class Update:
    """``UPDATE table SET columns = ... WHERE key = match`` (one row by its key)."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    key: str
    match: Any

    @staticmethod
    def by(table: str, key: str, match: Any, values: dict[str, Any]) -> Update:
        return Update(table, tuple(values), tuple(values.values()), key, match)


Op = Insert | Update


def shape(op: Op) -> tuple[str, str, tuple[str, ...], str]:
    """Ops with the same shape render to the same SQL text."""
    if isinstance(op, Insert):
        return ("insert", op.table, op.columns, "")
    return ("update", op.table, op.columns, op.key)


def params(op: Op) -> tuple[Any, ...]:
    if isinstance(op, Insert):
        return op.values
    return (*op.values, op.match)


@cache
def render(kind: str, table: str, columns: tuple[str, ...], key: str, style: Style) -> str:
    ph = _placeholders(style)
    if kind == "insert":
        cols = ", ".join(_quote(c) for c in columns)
        vals = ", ".join(next(ph) for _ in columns)
        return f"INSERT INTO {table} ({cols}) VALUES ({vals})"
    sets = ", ".join(f"{_quote(c)} = {next(ph)}" for c in columns)
    return f"UPDATE {table} SET {sets} WHERE {_quote(key)} = {next(ph)}"


def grouped(ops: Sequence[Op], style: Style) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Consecutive ops of one shape as ``(sql, rows)``, in order (order matters: FKs)."""
    i = 0
    while i < len(ops):
        s = shape(ops[i])
        rows = [params(ops[i])]
        j = i + 1
        while j < len(ops) and shape(ops[j]) == s:
            rows.append(params(ops[j]))
            j += 1
        yield render(*s, style), rows
        i = j


def _placeholders(style: Style) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield "?" if style == "qmark" else f"${n}"


# ``timestamp`` is a column name that both databases accept quoted.
def _quote(column: str) -> str:
    return f'"{column}"'
