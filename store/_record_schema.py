"""Record v2 tables (issue 11): the Merkle tree over each log, and signed checkpoints.

Derived data: everything here can be rebuilt from ``session_log_entries``
(the checkpoints' signatures aside, which is why they are stored). Same
``metadata`` as ``store._schema`` so Alembic sees one model.

* ``merkle_nodes``: the complete subtree hashes ``(level, idx)`` of a session's
  tree from level 4 up (one row per 8 entries; ``store/_tree.py``); any
  inclusion or consistency proof is a handful of these, fetched in one query,
  and the lower nodes of a block or two rebuilt from the log.
* ``merkle_trees``: how far the tree has been built (``size``) and its right
  edge (``frontier``: one hex hash per set bit of ``size``, largest first), so
  the writer grows the tree from where the last batch left it, on any node.
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

merkle_trees = Table(
    "merkle_trees",
    metadata,
    Column("session_id", UUID, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("frontier", Text, nullable=False),
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
