"""Settings, read once from the environment (12-factor); nothing secret lives in code.

``COURTROOM_SECRET_KEY`` signs tokens. When it is not set the server generates
one into ``<data dir>/secret_key`` (mode 0600) on first start and reuses it, so
a laptop install works and tokens survive restarts without a secret in a file
the repository tracks.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else int(raw)


def _sqlite_sync(raw: str) -> str:
    value = raw.strip().upper() or "NORMAL"
    if value not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"COURTROOM_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Flags:
    """The seeds' feature flags. Core features default on in this standalone server."""

    moot_operations: bool = True  # FEATURE_MOOT_OPERATIONS: every /api/session route
    session_recording: bool = False  # FEATURE_SESSION_RECORDING: recording_url
    classroom_round_engine: bool = True  # FEATURE_CLASSROOM_ROUND_ENGINE
    auto_submit_on_timeout: bool = True  # FEATURE_AUTO_SUBMIT_ON_TIMEOUT
    allow_late_submission: bool = False  # FEATURE_ALLOW_LATE_SUBMISSION
    scheduling: bool = True  # FEATURE_SCHEDULING: /api/tournaments


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///courtroom.db"
    redis_url: str | None = None
    redis_prefix: str = "courtroom:"
    data_dir: Path = Path(".courtroom")
    secret_key: str = ""
    token_ttl_seconds: int = 12 * 3600
    max_frame_bytes: int = 64 * 1024
    outbound_queue_frames: int = 1024
    hello_timeout_seconds: float = 10.0
    tick_interval_ms: int = 1000
    auto_migrate: bool = True
    flags: Flags = field(default_factory=Flags)
    node_id: str = ""
    timer_lease_ms: int = 5000
    node_ttl_ms: int = 10_000
    reconnect_grace_ms: int = 15_000
    # Freeze the heap after startup and join bursts (server/heap.py). Off for an
    # app built in-process (tests, embedding): the host's collector is its own.
    gc_freeze: bool = False
    # The batch writer (store/_writer.py): the most jobs per transaction, and
    # SQLite's fsync policy for its commits (NORMAL: survives a killed process).
    write_batch_max: int = 1024
    # How long observer changes gather into one entry after each (server/observers.py).
    observer_window_ms: int = 250
    sqlite_synchronous: str = "NORMAL"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        data_dir = Path(e.get("COURTROOM_DATA_DIR", ".courtroom"))
        default_db = f"sqlite+aiosqlite:///{data_dir / 'courtroom.db'}"
        flags = Flags(
            moot_operations=_flag(e, "FEATURE_MOOT_OPERATIONS", True),
            session_recording=_flag(e, "FEATURE_SESSION_RECORDING", False),
            classroom_round_engine=_flag(e, "FEATURE_CLASSROOM_ROUND_ENGINE", True),
            auto_submit_on_timeout=_flag(e, "FEATURE_AUTO_SUBMIT_ON_TIMEOUT", True),
            allow_late_submission=_flag(e, "FEATURE_ALLOW_LATE_SUBMISSION", False),
            scheduling=_flag(e, "FEATURE_SCHEDULING", True),
        )
        return cls(
            database_url=e.get("DATABASE_URL") or default_db,
            redis_url=e.get("REDIS_URL") or None,
            redis_prefix=e.get("COURTROOM_REDIS_PREFIX", "courtroom:"),
            data_dir=data_dir,
            secret_key=e.get("COURTROOM_SECRET_KEY", ""),
            token_ttl_seconds=_int(e, "COURTROOM_TOKEN_TTL_SECONDS", 12 * 3600),
            max_frame_bytes=_int(e, "COURTROOM_MAX_FRAME_BYTES", 64 * 1024),
            outbound_queue_frames=_int(e, "COURTROOM_OUTBOUND_QUEUE", 1024),
            hello_timeout_seconds=float(e.get("COURTROOM_HELLO_TIMEOUT", "10")),
            tick_interval_ms=_int(e, "COURTROOM_TICK_MS", 1000),
            auto_migrate=_flag(e, "COURTROOM_AUTO_MIGRATE", True),
            flags=flags,
            node_id=e.get("COURTROOM_NODE_ID", ""),
            timer_lease_ms=_int(e, "COURTROOM_TIMER_LEASE_MS", 5000),
            node_ttl_ms=_int(e, "COURTROOM_NODE_TTL_MS", 10_000),
            reconnect_grace_ms=_int(e, "COURTROOM_RECONNECT_GRACE_MS", 15_000),
            gc_freeze=_flag(e, "COURTROOM_GC_FREEZE", True),
            write_batch_max=_int(e, "COURTROOM_WRITE_BATCH_MAX", 1024),
            observer_window_ms=_int(e, "COURTROOM_OBSERVER_WINDOW_MS", 250),
            sqlite_synchronous=_sqlite_sync(e.get("COURTROOM_SQLITE_SYNCHRONOUS", "NORMAL")),
        )

    def resolved_node_id(self) -> str:
        """This process's node id: configured, or unique to this process."""
        if self.node_id:
            return self.node_id
        return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    def resolved_secret(self) -> str:
        """The signing key: from the environment, else from (or into) the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key

    def ensure_data_dir(self) -> None:
        if self.database_url.startswith("sqlite"):
            self.data_dir.mkdir(parents=True, exist_ok=True)
