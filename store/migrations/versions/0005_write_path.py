"""the write path: log entries without their foreign key; the state compressed with lz4

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:30:00

* Every entry is written by the batch writer in the same statement or
  transaction as its session's head: a new session's row, a head update under
  the row's lock, or the remembered-head path's head update conditional on the
  row (the entries are inserted only for the sessions that update matched).
  Sessions are never deleted. The foreign key's check (a key-share lock and an
  index probe of the session row per entry) proved nothing the writer does not
  already guarantee, at about 0.03 ms of a PostgreSQL command's ~0.4 ms
  statement.
* PostgreSQL: every command rewrites the session's ``state``; a running
  session's state (~6 KB of JSON with three rounds) is compressed on each
  write, and pglz cost ~0.06 ms a statement where lz4 costs 0.01-0.03 ms. Rows
  written before keep pglz until their next command rewrites them. A server
  built without lz4 keeps pglz.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FK = "fk_session_log_entries_session_id_courtroom_sessions"


def upgrade() -> None:
    # SQLite: batch mode copies the table without the constraint.
    with op.batch_alter_table("session_log_entries", schema=None) as batch_op:
        batch_op.drop_constraint(_FK, type_="foreignkey")
    if _has_lz4():
        op.execute("ALTER TABLE courtroom_sessions ALTER COLUMN state SET COMPRESSION lz4")


def downgrade() -> None:
    if _has_lz4():
        op.execute("ALTER TABLE courtroom_sessions ALTER COLUMN state SET COMPRESSION pglz")
    with op.batch_alter_table("session_log_entries", schema=None) as batch_op:
        batch_op.create_foreign_key(_FK, "courtroom_sessions", ["session_id"], ["id"])


def _has_lz4() -> bool:
    """PostgreSQL 14 or later built with lz4 (it lists lz4 as a TOAST compression then)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bool(
        bind.execute(
            sa.text(
                "SELECT coalesce(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            )
        ).scalar()
    )
