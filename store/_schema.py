"""Tables: the seeds' tables (Phase 19, Phase 3) plus the users table.

Deviations from the seeds, each for a reason:

* timestamps are stored as the log's canonical ISO strings (``String(32)``) so
  they survive every backend's round trip byte for byte (PROTOCOL.md 1);
* ``session_log_entries`` is keyed by ``(session_id, sequence_number)``: the
  seed's unique constraint becomes the primary key, which is also the index
  replay scans; ``details`` keeps the exact canonical JSON text that was hashed,
  so verification never re-encodes;
* ``courtroom_sessions`` carries the chain head (``head_seq``, ``head_hash``),
  the rules' state as JSON and ``next_action_ms``, the one timer deadline, so
  the session row is the lock, the head and the clock in one place;
* ``session_log_entries.session_id`` has no foreign key: every entry is
  inserted in the statement or transaction that creates its session's row or
  moves its head (locked, or conditional on the remembered row), and sessions
  are never deleted, so the check only cost time on every append;
* round and turn ids are UUID strings (the seed's integers would need the
  database to allocate ids inside the rules' decisions).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = String(32)
UUID = String(36)
HASH = String(64)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    CheckConstraint(
        "role IN ('SUPER_ADMIN','ADMIN','JUDGE','FACULTY','STUDENT')", name="role_valid"
    ),
)

courtroom_sessions = Table(
    "courtroom_sessions",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("assignment_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("title", String(200), nullable=False, server_default=""),
    Column("started_at", TS, nullable=True),
    Column("ended_at", TS, nullable=True),
    Column("recording_url", String(500), nullable=True),
    Column("metadata", Text, nullable=True),
    Column("integrity_hash", HASH, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("head_seq", BigInteger, nullable=False, server_default="0"),
    Column("head_hash", HASH, nullable=False),
    # Rewritten by every command; compressed with lz4 on PostgreSQL (migration 0005).
    Column("state", Text, nullable=False),
    Column("next_action_ms", BigInteger, nullable=True),
    # The node that drives this session's deadlines, its lease and the fencing
    # token an expiry must present (see server/live/clockwork.py).
    Column("timer_owner", String(64), nullable=True),
    Column("timer_fence", BigInteger, nullable=False, server_default="0"),
    Column("timer_lease_until", BigInteger, nullable=True),
    # The Merkle tree over the log (record v2, store/_tree.py): its size and right
    # edge, written with the head by the batch writer while the tree is at it.
    Column("tree_size", BigInteger, nullable=False, server_default="0"),
    Column("tree_frontier", LargeBinary, nullable=False, server_default=""),
    UniqueConstraint("assignment_id", name="uq_session_assignment"),
    CheckConstraint(
        "status IN ('pending','active','paused','completed')", name="session_status_valid"
    ),
    Index("idx_session_status", "status"),
    Index("idx_session_next_action", "next_action_ms"),
    Index("idx_session_timer_owner", "timer_owner"),
)

# Nodes of a deployment and their heartbeats: a node whose heartbeat is older
# than the node TTL has crashed, and its live connections are cleaned up.
cluster_nodes = Table(
    "cluster_nodes",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("heartbeat_ms", BigInteger, nullable=False),
)

# Every open WebSocket of every node: presence across nodes is computed here.
live_connections = Table(
    "live_connections",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("session_id", UUID, ForeignKey("courtroom_sessions.id"), nullable=False),
    Column("node_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("user_id", String(64), nullable=True),
    Column("observation_id", UUID, nullable=True),
    Column("connected_at_ms", BigInteger, nullable=False),
    CheckConstraint("kind IN ('participant','observer')", name="live_kind_valid"),
    Index("idx_live_session_user", "session_id", "user_id"),
    Index("idx_live_node", "node_id"),
)

session_participations = Table(
    "session_participations",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("session_id", UUID, ForeignKey("courtroom_sessions.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("speaker", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("joined_at", TS, nullable=False),
    Column("left_at", TS, nullable=True),
    Column("connection_count", Integer, nullable=False, server_default="1"),
    Column("client_info", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("session_id", "user_id", name="uq_participation_session_user"),
    CheckConstraint(
        "role IN ('petitioner','respondent','judge','moderator')", name="participant_role_valid"
    ),
    CheckConstraint(
        "status IN ('connected','disconnected','reconnecting')", name="participant_status_valid"
    ),
    CheckConstraint("connection_count > 0", name="connection_count_positive"),
    Index("idx_participation_session", "session_id"),
    Index("idx_participation_user", "user_id"),
)

session_observations = Table(
    "session_observations",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("session_id", UUID, ForeignKey("courtroom_sessions.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("observed_at", TS, nullable=False),
    Column("left_at", TS, nullable=True),
    Column("client_info", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    Index("idx_observation_session", "session_id"),
    Index("idx_observation_user", "user_id"),
)

session_log_entries = Table(
    "session_log_entries",
    metadata,
    # No foreign key (migration 0005): the writer inserts entries only with their
    # session's head update, under its lock or conditional on it.
    Column("session_id", UUID, nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("timestamp", TS, nullable=False),
    Column("event_type", String(50), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("details", Text, nullable=False),
    Column("previous_hash", HASH, nullable=False),
    Column("hash_chain", HASH, nullable=False),
    Column("created_at", TS, nullable=False),
    PrimaryKeyConstraint("session_id", "sequence_number", name="uq_log_sequence"),
    Index("idx_log_timestamp", "timestamp"),
    Index("idx_log_event_type", "event_type"),
    Index("idx_log_actor", "actor_id"),
)

classroom_rounds = Table(
    "classroom_rounds",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("session_id", UUID, ForeignKey("courtroom_sessions.id"), nullable=False),
    Column("round_index", Integer, nullable=False),
    Column("round_type", String(32), nullable=False),
    Column("format", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("current_speaker_participant_id", String(64), nullable=True),
    Column("current_turn_id", UUID, nullable=True),
    Column("started_at", TS, nullable=True),
    Column("ended_at", TS, nullable=True),
    Column("abort_reason", String(500), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("session_id", "round_index", name="uq_round_session_index"),
    CheckConstraint(
        "round_type IN ('PETITIONER_MAIN','RESPONDENT_MAIN','REBUTTAL','OTHER')",
        name="round_type_valid",
    ),
    CheckConstraint(
        "status IN ('PENDING','ACTIVE','COMPLETED','ABORTED')", name="round_status_valid"
    ),
    Index("idx_round_session", "session_id"),
    Index("idx_round_status", "status"),
)

classroom_turns = Table(
    "classroom_turns",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("round_id", UUID, ForeignKey("classroom_rounds.id"), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("side", String(16), nullable=False),
    Column("speaker", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("turn_order", Integer, nullable=False),
    Column("allowed_seconds", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", TS, nullable=True),
    Column("submitted_at", TS, nullable=True),
    Column("transcript", Text, nullable=True),
    Column("word_count", Integer, nullable=True),
    Column("is_submitted", Boolean, nullable=False, server_default="0"),
    Column("is_late", Boolean, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # The seed's UNIQUE(round_id, participant_id) is dropped: a rebuttal is the
    # same speaker's second turn in the round.
    UniqueConstraint("round_id", "turn_order", name="uq_turn_round_order"),
    Index("idx_turn_round", "round_id"),
    Index("idx_turn_participant", "participant_id"),
)

classroom_turn_audit = Table(
    "classroom_turn_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", UUID, ForeignKey("classroom_turns.id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor_user_id", String(64), nullable=True),
    Column("payload_json", Text, nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
    CheckConstraint(
        "action IN ('START','SUBMIT','AUTO_SUBMIT','TIME_EXPIRED','OVERRIDE')",
        name="audit_action_valid",
    ),
    Index("idx_audit_turn_created", "turn_id", "created_at"),
)
