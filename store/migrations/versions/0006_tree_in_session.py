"""the Merkle tree's size and edge move into the session row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:10:00

The batch writer grows each session's tree in the transaction that appends its
entries. With the tree's size and right edge in a table of their own, every
batch read them (one locking query) and wrote them back (one upsert), and the
PostgreSQL one-statement path carried them as a CTE of its own. As columns of
``courtroom_sessions`` they ride on the row the writer locks and updates
anyway: no statement of their own, and the head and the tree cannot disagree
about which commit wrote them. ``tree_frontier`` is the edge's hashes
concatenated (32 bytes each, largest subtree first); ``merkle_trees`` kept
them as comma-separated hex.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_sessions = sa.table(
    "courtroom_sessions",
    sa.column("id", sa.String),
    sa.column("tree_size", sa.BigInteger),
    sa.column("tree_frontier", sa.LargeBinary),
)
_trees = sa.table(
    "merkle_trees",
    sa.column("session_id", sa.String),
    sa.column("size", sa.BigInteger),
    sa.column("frontier", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("courtroom_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tree_size", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("tree_frontier", sa.LargeBinary(), nullable=False, server_default="")
        )
    bind = op.get_bind()
    for sid, size, frontier in bind.execute(sa.select(_trees)).all():
        bind.execute(
            _sessions.update()
            .where(_sessions.c.id == sid)
            .values(tree_size=size, tree_frontier=bytes.fromhex(frontier.replace(",", "")))
        )
    op.drop_table("merkle_trees")


def downgrade() -> None:
    op.create_table(
        "merkle_trees",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_merkle_trees")),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_sessions.c.id, _sessions.c.tree_size, _sessions.c.tree_frontier).where(
            _sessions.c.tree_size > 0
        )
    ).all()
    for sid, size, edge in rows:
        edge = bytes(edge)
        text = ",".join(edge[i : i + 32].hex() for i in range(0, len(edge), 32))
        bind.execute(_trees.insert().values(session_id=sid, size=size, frontier=text))
    with op.batch_alter_table("courtroom_sessions", schema=None) as batch_op:
        batch_op.drop_column("tree_frontier")
        batch_op.drop_column("tree_size")
