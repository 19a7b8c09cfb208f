"""record v2: Merkle nodes, tree heads, signed checkpoints

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "level", "idx", name=op.f("pk_merkle_nodes")),
    )
    op.create_table(
        "merkle_trees",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_merkle_trees")),
    )
    op.create_table(
        "session_checkpoints",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "tree_size", name=op.f("pk_session_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("session_checkpoints")
    op.drop_table("merkle_trees")
    op.drop_table("merkle_nodes")
