"""courtroom_sessions: room on each page for the next version of its rows (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 01:10:00

Every append updates its session's row. PostgreSQL makes that a HOT update
(the new version on the same page, no index touched, and only the changed
columns logged, 0007) only if the page has room for it; on a full page the
new version goes to another page, with an entry in each of the table's four
indexes and the whole row in the WAL. With the default fillfactor (100) about
one update in twenty went that way in a run of 64 sessions, and the table
grew to five times its rows. A fillfactor of 50 leaves each page half free
for the next versions. SQLite rewrites a row in place: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE courtroom_sessions SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE courtroom_sessions RESET (fillfactor)")
