"""courtroom_sessions: the columns every append changes stored last (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:10:00

Every batch updates each of its sessions' rows: ``head_seq``, ``head_hash`` and,
since 0006, ``tree_size`` and ``tree_frontier``. PostgreSQL writes a HOT
update to its WAL as the new tuple less the prefix and the suffix it shares
with the old one, so what it logs runs from the first changed column to the
last. 0006 added the tree's columns at the end of the row, after ``state`` (the
rules' JSON, unchanged by most commands): every append logged ``state`` again
with the edge, 1,380 WAL bytes an append against 950 without the tree
(docs/benchmarks.md §9, session 13). This migration rebuilds the table with
those four columns last, so an append logs only them: ~1,070 bytes.

PostgreSQL cannot move a column, so the table is rebuilt under its lock: the
row data, each column as it was (type, default, collation, TOAST compression,
storage), its constraints and indexes, and the foreign keys of the tables that
refer to it, all read from the catalog. Column order means nothing to SQLite's
writes (a row is written whole), so there it does nothing. Downgrading
rebuilds 0006's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "courtroom_sessions"
# Changed by every append: stored last, in this order.
PER_APPEND = ("head_seq", "head_hash", "tree_size", "tree_frontier")
# The order of 0006 (0001's columns, then 0006's two).
ORDER_0006 = (
    *("id", "assignment_id", "status", "title", "started_at", "ended_at", "recording_url"),
    *("metadata", "integrity_hash", "created_at", "created_by", "head_seq", "head_hash"),
    *("state", "next_action_ms", "timer_owner", "timer_fence", "timer_lease_until"),
    *("tree_size", "tree_frontier"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        rest = tuple(c for c in ORDER_0006 if c not in PER_APPEND)
        rebuild(op.get_bind(), (*rest, *PER_APPEND))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        rebuild(op.get_bind(), ORDER_0006)


def rebuild(bind: sa.Connection, order: Sequence[str]) -> None:
    """Rebuild ``courtroom_sessions`` with its columns in ``order``; nothing else changes."""
    q = bind.exec_driver_sql
    oid = f"'{TABLE}'::regclass"
    # Each column's type, NOT NULL, default, and what a column can carry besides:
    # its collation, TOAST compression (``state``'s lz4, 0005) and storage, when
    # not the type's own.
    columns = {
        name: (typ, notnull, default, collation, compression, storage)
        for name, typ, notnull, default, collation, compression, storage in q(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid),"
            " CASE WHEN a.attcollation <> t.typcollation THEN"
            "  (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation) END,"
            " CASE a.attcompression WHEN 'l' THEN 'lz4' WHEN 'p' THEN 'pglz' END,"
            " CASE WHEN a.attstorage <> t.typstorage THEN CASE a.attstorage"
            "  WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN'"
            "  WHEN 'x' THEN 'EXTENDED' END END"
            " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            f" WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped"
        ).all()
    }
    if set(columns) != set(order):
        raise RuntimeError(f"{TABLE} has columns {sorted(columns)}, expected {sorted(order)}")
    own = q(
        f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {oid}"
    ).all()
    referring = q(
        "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid)"
        f" FROM pg_constraint WHERE confrelid = {oid} AND contype = 'f'"
    ).all()
    named = {name for name, _ in own}
    indexes = [
        sql
        for name, sql in q(
            f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{TABLE}'"
        ).all()
        if name not in named  # those come back with their constraints
    ]

    q(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    for name, table, _ in referring:
        q(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    q(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_old")
    for name, _ in own:  # their names (and their indexes' names) are the new table's
        q(f'ALTER TABLE {TABLE}_old DROP CONSTRAINT "{name}"')
    defs = []
    for name in order:
        typ, notnull, default, collation, compression, _ = columns[name]
        defs.append(
            f'"{name}" {typ}'
            + (f" COMPRESSION {compression}" if compression else "")
            + (f" COLLATE {collation}" if collation else "")
            + (" NOT NULL" if notnull else "")
            + (f" DEFAULT {default}" if default is not None else "")
        )
    defs += [f'CONSTRAINT "{name}" {sql}' for name, sql in own]
    q(f"CREATE TABLE {TABLE} ({', '.join(defs)})")
    for name, (*_, storage) in columns.items():
        if storage:
            q(f'ALTER TABLE {TABLE} ALTER COLUMN "{name}" SET STORAGE {storage}')
    names = ", ".join(f'"{c}"' for c in order)
    q(f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {TABLE}_old")
    q(f"DROP TABLE {TABLE}_old")  # and the indexes not dropped with its constraints
    for sql in indexes:
        q(sql)
    for name, table, sql in referring:
        q(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}')
    q(f"ANALYZE {TABLE}")
