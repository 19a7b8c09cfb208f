"""The SQLite dialect's multi-row entry INSERTs (``store/_batch.py``)."""

from __future__ import annotations

import sqlite3

import pytest

from store._batch import ENTRY_CHUNK, Dialect
from store._plan import ENTRY_COLUMNS


def _rows(n: int) -> list[tuple[object, ...]]:
    return [("s", i, "t", "NOTE", None, "{}", "p", f"h{i}", "c") for i in range(n)]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (0, []),
        (1, [1]),
        (64, [64]),
        (70, [64, 4, 2]),
        (300, [256, 32, 8, 4]),
        (600, [256, 256, 64, 16, 8]),
    ],
)
def test_entries_go_in_powers_of_two_in_order(n: int, sizes: list[int]) -> None:
    steps = Dialect().insert_entries(_rows(n))
    assert [len(s.args) // len(ENTRY_COLUMNS) for s in steps] == sizes
    assert max(sizes, default=0) <= ENTRY_CHUNK
    flat = [v for s in steps for v in s.args]
    assert flat == [v for r in _rows(n) for v in r]


def test_the_statements_insert_what_they_carry() -> None:
    conn = sqlite3.connect(":memory:")
    cols = ", ".join(f'"{c}"' for c in ENTRY_COLUMNS)
    conn.execute(f"CREATE TABLE session_log_entries ({cols})")
    for step in Dialect().insert_entries(_rows(70)):
        conn.execute(step.sql, step.args)
    got = conn.execute(f"SELECT {cols} FROM session_log_entries ORDER BY rowid").fetchall()
    assert got == _rows(70)
