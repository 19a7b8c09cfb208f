"""Settings, read once from the environment (12-factor) and validated in one place.

Every variable the server reads is a field of :class:`Settings` (pydantic-settings),
with its type, range and a one-line ``accepts`` text; docs/deployment.md lists them
all. A bad value stops start-up with :class:`ConfigError`, one line that names the
variable and what it accepts. ``courtroom config`` prints the effective settings
with the secrets masked (:func:`describe`).

``COURTROOM_SECRET_KEY`` signs tokens. When it is not set the server generates
one into ``<data dir>/secret_key`` (mode 0600) on first start and reuses it, so
a laptop install works and tokens survive restarts without a secret in a file
the repository tracks.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from server.common.files import create_once

__all__ = ["ConfigError", "Flags", "Settings", "describe"]


class ConfigError(ValueError):
    """A setting has a value the server cannot run with; the message is one line."""


@dataclass(frozen=True, slots=True)
class Flags:
    """The seeds' feature flags. Core features default on in this standalone server."""

    moot_operations: bool = True  # FEATURE_MOOT_OPERATIONS: every /api/session route
    session_recording: bool = False  # FEATURE_SESSION_RECORDING: recording_url
    classroom_round_engine: bool = True  # FEATURE_CLASSROOM_ROUND_ENGINE
    auto_submit_on_timeout: bool = True  # FEATURE_AUTO_SUBMIT_ON_TIMEOUT
    allow_late_submission: bool = False  # FEATURE_ALLOW_LATE_SUBMISSION
    scheduling: bool = True  # FEATURE_SCHEDULING: /api/tournaments


# The mapping `Settings.from_env(env)` reads instead of os.environ (tests pass their own).
_ENV: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "courtroom_env", default=None
)


class _Environment(EnvSettingsSource):
    """The environment, or the mapping given to ``from_env``: never both."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = _ENV.get()
        source = os.environ if given is None else given
        return {k: v for k, v in source.items() if not (self.env_ignore_empty and v == "")}


_BOOL = "true or false (also 1/0, yes/no, on/off)"


def _var(default: Any, name: str, accepts: str, **constraints: Any) -> Any:
    """A field read from the variable ``name``; ``accepts`` is what the error line says."""
    return Field(
        default, validation_alias=name, json_schema_extra={"accepts": accepts}, **constraints
    )


_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class Settings(BaseSettings):
    """Every setting of one server process. Build it with :meth:`from_env`."""

    model_config = SettingsConfigDict(
        frozen=True, case_sensitive=True, env_ignore_empty=True, extra="ignore"
    )

    # -- storage and cluster ------------------------------------------------------
    database_url: str = _var(
        "",
        "DATABASE_URL",
        "sqlite+aiosqlite:///PATH or postgresql://USER@HOST/DB",
    )
    redis_url: str | None = _var(None, "REDIS_URL", "redis://HOST:PORT/DB (or rediss://, unix://)")
    redis_prefix: str = _var(
        "courtroom:", "COURTROOM_REDIS_PREFIX", "a channel prefix of 1-64 characters",
        min_length=1, max_length=64,
    )  # fmt: skip
    data_dir: Path = _var(Path(".courtroom"), "COURTROOM_DATA_DIR", "a directory path")
    auto_migrate: bool = _var(True, "COURTROOM_AUTO_MIGRATE", _BOOL)
    node_id: str = _var("", "COURTROOM_NODE_ID", "a stable name of up to 64 characters",
                        max_length=64)  # fmt: skip
    timer_lease_ms: int = _var(5000, "COURTROOM_TIMER_LEASE_MS", "an integer of milliseconds, 100-600000", ge=100, le=600_000)  # fmt: skip
    node_ttl_ms: int = _var(10_000, "COURTROOM_NODE_TTL_MS", "an integer of milliseconds, 100-600000", ge=100, le=600_000)  # fmt: skip
    reconnect_grace_ms: int = _var(15_000, "COURTROOM_RECONNECT_GRACE_MS", "an integer of milliseconds, 0-3600000", ge=0, le=3_600_000)  # fmt: skip
    # Freeze the heap after startup and join bursts (server/common/heap.py).
    gc_freeze: bool = _var(True, "COURTROOM_GC_FREEZE", _BOOL)
    # The batch writer (store/_writer.py): the most jobs per transaction, and
    # SQLite's fsync policy for its commits (NORMAL: survives a killed process).
    write_batch_max: int = _var(1024, "COURTROOM_WRITE_BATCH_MAX", "an integer of commands, 1-100000", ge=1, le=100_000)  # fmt: skip
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = _var(
        "NORMAL", "COURTROOM_SQLITE_SYNCHRONOUS", "NORMAL, FULL or EXTRA"
    )
    # How long observer changes gather into one entry after each (server/live/observers.py).
    observer_window_ms: int = _var(250, "COURTROOM_OBSERVER_WINDOW_MS", "an integer of milliseconds, 0-60000", ge=0, le=60_000)  # fmt: skip

    # -- security -----------------------------------------------------------------
    secret_key: SecretStr = _var(
        SecretStr(""), "COURTROOM_SECRET_KEY", "at least 32 characters (or unset: generated)"
    )
    token_ttl_seconds: int = _var(12 * 3600, "COURTROOM_TOKEN_TTL_SECONDS", "an integer of seconds, 60-2592000", ge=60, le=30 * 86_400)  # fmt: skip
    # NoDecode: a comma-separated list, not JSON (split by `_split_origins`).
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = _var(
        (),
        "COURTROOM_ALLOWED_ORIGINS",
        "a comma-separated list of origins (scheme://host[:port]), or *",
    )
    login_free_failures_account: int = _var(5, "COURTROOM_LOGIN_FAILURES_PER_ACCOUNT", "an integer, 1-1000", ge=1, le=1000)  # fmt: skip
    login_free_failures_address: int = _var(20, "COURTROOM_LOGIN_FAILURES_PER_ADDRESS", "an integer, 1-100000", ge=1, le=100_000)  # fmt: skip
    login_max_backoff_seconds: int = _var(900, "COURTROOM_LOGIN_MAX_BACKOFF_SECONDS", "an integer of seconds, 1-86400", ge=1, le=86_400)  # fmt: skip

    # -- WebSocket ------------------------------------------------------------------
    max_frame_bytes: int = _var(64 * 1024, "COURTROOM_MAX_FRAME_BYTES", "an integer of bytes, 1024-16777216", ge=1024, le=16 * 1024 * 1024)  # fmt: skip
    outbound_queue_frames: int = _var(1024, "COURTROOM_OUTBOUND_QUEUE", "an integer of frames, 1-1000000", ge=1, le=1_000_000)  # fmt: skip
    hello_timeout_seconds: float = _var(10.0, "COURTROOM_HELLO_TIMEOUT", "a number of seconds, above 0 and at most 300", gt=0, le=300)  # fmt: skip
    tick_interval_ms: int = _var(1000, "COURTROOM_TICK_MS", "an integer of milliseconds, 10-86400000", ge=10, le=86_400_000)  # fmt: skip
    ws_rate: float = _var(20.0, "COURTROOM_WS_RATE", "a number of messages a second, above 0", gt=0, le=100_000)  # fmt: skip
    ws_burst: int = _var(60, "COURTROOM_WS_BURST", "an integer of messages, 1-100000", ge=1, le=100_000)  # fmt: skip
    max_connections: int = _var(20_000, "COURTROOM_MAX_CONNECTIONS", "an integer, 0 (no limit) to 1000000", ge=0, le=1_000_000)  # fmt: skip
    # A live board re-reads its day's schedule this often; a session opened for a match
    # comes at once as news (server/live/board.py), so this only catches moves and finalizing.
    board_rescan_ms: int = _var(10_000, "COURTROOM_BOARD_RESCAN_MS", "an integer of milliseconds, 50-86400000", ge=50, le=86_400_000)  # fmt: skip

    # -- process --------------------------------------------------------------------
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = _var(
        "info", "COURTROOM_LOG_LEVEL", "one of " + ", ".join(_LOG_LEVELS)
    )
    log_format: Literal["text", "json"] = _var("text", "COURTROOM_LOG_FORMAT", "text or json")
    root_path: str = _var("", "COURTROOM_ROOT_PATH", "a URL path prefix such as /court, or empty")

    # -- feature flags (the seeds) -----------------------------------------------------
    feature_moot_operations: bool = _var(True, "FEATURE_MOOT_OPERATIONS", _BOOL)
    feature_session_recording: bool = _var(False, "FEATURE_SESSION_RECORDING", _BOOL)
    feature_classroom_round_engine: bool = _var(True, "FEATURE_CLASSROOM_ROUND_ENGINE", _BOOL)
    feature_auto_submit_on_timeout: bool = _var(True, "FEATURE_AUTO_SUBMIT_ON_TIMEOUT", _BOOL)
    feature_allow_late_submission: bool = _var(False, "FEATURE_ALLOW_LATE_SUBMISSION", _BOOL)
    feature_scheduling: bool = _var(True, "FEATURE_SCHEDULING", _BOOL)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the process environment (or the given mapping): no .env file, no secrets dir.
        return (init_settings, _Environment(settings_cls))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: a value is malformed or out of range; one line naming the variable.
        """
        token = _ENV.set(None if env is None else dict(env))
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(_first_problem(exc)) from None
        finally:
            _ENV.reset(token)

    # -- validators ------------------------------------------------------------------------

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        origins = tuple(o.strip().rstrip("/") for o in v.split(",") if o.strip())
        for o in origins:
            if o == "*":
                continue
            parts = urlsplit(o)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"{o!r} is not an origin")
        return origins

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in _DB_SCHEMES:
            raise ValueError("unknown database scheme")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("unknown Redis scheme")
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, v: SecretStr) -> SecretStr:
        if 0 < len(v.get_secret_value()) < 32:
            raise ValueError("too short")
        return v

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, v: str) -> str:
        v = v.rstrip("/")
        if v and not v.startswith("/"):
            raise ValueError("must start with /")
        return v

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            # Frozen model: the derived default is set once, here.
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{self.data_dir / 'courtroom.db'}"
            )
        return self

    # -- derived ----------------------------------------------------------------------------

    @property
    def flags(self) -> Flags:
        return Flags(
            moot_operations=self.feature_moot_operations,
            session_recording=self.feature_session_recording,
            classroom_round_engine=self.feature_classroom_round_engine,
            auto_submit_on_timeout=self.feature_auto_submit_on_timeout,
            allow_late_submission=self.feature_allow_late_submission,
            scheduling=self.feature_scheduling,
        )

    def resolved_node_id(self) -> str:
        """This process's node id: configured, or unique to this process."""
        if self.node_id:
            return self.node_id
        return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    def resolved_secret(self) -> str:
        """The signing key: from the environment, else from (or into) the data dir."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        return create_once(self.data_dir / "secret_key", secrets.token_urlsafe(48)).strip()

    def ensure_data_dir(self) -> None:
        if self.database_url.startswith("sqlite"):
            self.data_dir.mkdir(parents=True, exist_ok=True)


def _accepts(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    return str(extra.get("accepts", "")) if isinstance(extra, dict) else ""


def _first_problem(exc: ValidationError) -> str:
    by_alias = {str(f.validation_alias): f for f in Settings.model_fields.values()}
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "?"
    field = by_alias.get(name)
    accepts = _accepts(field) if field is not None else err["msg"]
    raw = err.get("input")
    shown = "(hidden)" if name == "COURTROOM_SECRET_KEY" else repr(raw)
    return f"{name}={shown} is not valid: expected {accepts}"


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def describe(
    settings: Settings, env: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """``(variable, effective value, source)`` for every setting, secrets masked."""
    source_env = os.environ if env is None else env
    rows: list[tuple[str, str, str]] = []
    for name, field in Settings.model_fields.items():
        var = str(field.validation_alias)
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = "***" if value.get_secret_value() else "(generated into the data dir)"
        elif name in ("database_url", "redis_url") and value:
            shown = _mask_url(str(value))
        elif isinstance(value, tuple):
            shown = ",".join(value) if value else "(same origin only)"
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        else:
            shown = "" if value is None else str(value)
        source = "environment" if source_env.get(var, "") != "" else "default"
        rows.append((var, shown, source))
    return rows
