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
about which commit wrote them.

``tree_frontier`` keeps the edge in blocks (``store/_tree_state.py``): the
complete subtrees of level 4 and up, then the leaf hashes of the unfinished
last block, 32 bytes each, concatenated; ``merkle_trees`` kept RFC 6962's
frontier as comma-separated hex, whose low subtrees cannot give those leaves
back. Both directions therefore keep a tree only up to its last whole block of
16 (``size`` rounded down, the frontier's subtrees of level 4 and up, which
are the same in both forms); the record keeper catches up the rest, at most
15 entries a session, from the log when the server starts.
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
        whole, upper = _whole_blocks(size, frontier.split(",") if frontier else [])
        bind.execute(
            _sessions.update()
            .where(_sessions.c.id == sid)
            .values(tree_size=whole, tree_frontier=bytes.fromhex("".join(upper)))
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
        edge = bytes(edge).hex()
        whole, upper = _whole_blocks(size, [edge[i : i + 64] for i in range(0, len(edge), 64)])
        bind.execute(_trees.insert().values(session_id=sid, size=whole, frontier=",".join(upper)))
    with op.batch_alter_table("courtroom_sessions", schema=None) as batch_op:
        batch_op.drop_column("tree_frontier")
        batch_op.drop_column("tree_size")


def _whole_blocks(size: int, hashes: list[str]) -> tuple[int, list[str]]:
    """The tree up to its last whole block of 16: its size and its subtrees of level 4 and up.

    Both forms of the edge begin with those subtrees, largest first, one per
    set bit of ``size >> 4``.
    """
    return size & ~15, hashes[: (size >> 4).bit_count()]
