"""Record v2 tables (issue 11): the Merkle tree over each log, and signed checkpoints.

Derived data: everything here can be rebuilt from ``session_log_entries``
(the checkpoints' signatures aside, which is why they are stored). Same
``metadata`` as ``store._schema`` so Alembic sees one model.

* ``merkle_nodes``: the complete subtree hashes ``(level, idx)`` of a session's
  tree from level 6 up (one row per 32 entries; ``store/_tree.py``); any
  inclusion or consistency proof is a handful of these, fetched in one query,
  and the lower nodes of a block or two rebuilt from the log.
* how far a session's tree has been built and its right edge are columns of
  its ``courtroom_sessions`` row (``tree_size``, ``tree_frontier``: migration
  0006), written with the head, so the writer grows the tree from where the
  last batch left it, on any node, without a statement of its own.
* ``session_checkpoints``: one signed checkpoint per (session, tree size).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

from store._schema import HASH, TS, UUID, metadata

merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("session_id", UUID, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("session_id", "level", "idx"),
)

session_checkpoints = Table(
    "session_checkpoints",
    metadata,
    Column("session_id", UUID, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", HASH, nullable=False),
    Column("chain_head", HASH, nullable=False),
    Column("time", TS, nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("note", Text, nullable=False),
    PrimaryKeyConstraint("session_id", "tree_size"),
)
