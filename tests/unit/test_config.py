"""Settings (issue 15 items 4-5): one validated place, one clear line per bad value, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.common.config import ConfigError, Settings, describe

ROOT = Path(__file__).parent.parent.parent


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    s = Settings.from_env({"COURTROOM_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'courtroom.db'}"
    assert s.tick_interval_ms == 1000 and s.log_format == "text" and s.allowed_origins == ()
    assert s.flags.moot_operations and not s.flags.session_recording
    assert s.max_connections == 20_000 and s.ws_burst == 60


def test_values_are_parsed(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "COURTROOM_TICK_MS": "250",
            "FEATURE_SESSION_RECORDING": "yes",
            "COURTROOM_ALLOWED_ORIGINS": "https://a.example, http://b.example:8080/",
            "COURTROOM_LOG_FORMAT": "json",
            "COURTROOM_ROOT_PATH": "/court/",
            "COURTROOM_HELLO_TIMEOUT": "",  # empty means default
        }
    )
    assert s.tick_interval_ms == 250 and s.flags.session_recording
    assert s.allowed_origins == ("https://a.example", "http://b.example:8080")
    assert s.log_format == "json" and s.root_path == "/court" and s.hello_timeout_seconds == 10


def test_the_environment_is_not_read_when_a_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COURTROOM_TICK_MS", "500")
    assert Settings.from_env({}).tick_interval_ms == 1000
    assert Settings.from_env().tick_interval_ms == 500


@pytest.mark.parametrize(
    "name,value,says",
    [
        ("COURTROOM_TICK_MS", "fast", "an integer of milliseconds, 10-86400000"),
        ("COURTROOM_TICK_MS", "1", "an integer of milliseconds, 10-86400000"),
        ("FEATURE_SCHEDULING", "maybe", "true or false"),
        ("COURTROOM_LOG_LEVEL", "loud", "one of critical, error, warning, info, debug, trace"),
        ("COURTROOM_LOG_FORMAT", "xml", "text or json"),
        ("COURTROOM_ALLOWED_ORIGINS", "evil.example", "a comma-separated list of origins"),
        ("DATABASE_URL", "mysql://db/x", "sqlite+aiosqlite:///PATH or postgresql://"),
        ("REDIS_URL", "memcached://x", "redis://HOST:PORT/DB"),
        ("COURTROOM_MAX_CONNECTIONS", "-1", "an integer, 0 (no limit) to 1000000"),
        ("COURTROOM_ROOT_PATH", "court", "a URL path prefix"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{name}={value!r} is not valid: expected ") and says in message


def test_a_short_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"COURTROOM_SECRET_KEY": "hunter2"})
    assert "hunter2" not in str(info.value) and "COURTROOM_SECRET_KEY" in str(info.value)


def test_describe_masks_secrets() -> None:
    env = {
        "COURTROOM_SECRET_KEY": "s" * 40,
        "DATABASE_URL": "postgresql://court:pa55word@db.internal:5432/court",
        "REDIS_URL": "redis://:r3dispass@cache:6379/0",
    }
    rows = {var: (value, source) for var, value, source in describe(Settings.from_env(env), env)}
    assert rows["COURTROOM_SECRET_KEY"] == ("***", "environment")
    assert rows["DATABASE_URL"][0] == "postgresql://court:***@db.internal:5432/court"
    assert rows["REDIS_URL"][0] == "redis://:***@cache:6379/0"
    assert rows["COURTROOM_TICK_MS"] == ("1000", "default")
    text = repr(rows)
    assert "pa55word" not in text and "r3dispass" not in text and "s" * 40 not in text


def test_every_variable_is_documented() -> None:
    """docs/deployment.md's table names every variable the settings read."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for var, _, _ in describe(Settings.from_env({})):
        assert f"`{var}`" in doc, var


# --- the command line -----------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COURTROOM_", "FEATURE_"))}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "server.node.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dash_h_works_everywhere() -> None:
    for args in (["-h"], ["serve", "-h"], ["config", "-h"]):
        done = _cli(*args)
        assert done.returncode == 0 and "Usage:" in done.stdout, done.stderr
    serve = _cli("serve", "-h").stdout
    assert "--log-level" in serve and "--root-path" in serve


def test_config_prints_effective_settings_masked(tmp_path: Path) -> None:
    done = _cli(
        "config",
        env={
            "COURTROOM_DATA_DIR": str(tmp_path),
            "COURTROOM_SECRET_KEY": "k" * 40,
            "DATABASE_URL": "postgresql://court:pa55word@db/court",
            "COURTROOM_TICK_MS": "250",
        },
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert "250" in lines["COURTROOM_TICK_MS"] and "(environment)" in lines["COURTROOM_TICK_MS"]
    assert "(default)" in lines["COURTROOM_LOG_FORMAT"]
    assert "pa55word" not in done.stdout and "k" * 40 not in done.stdout
    assert "***" in lines["COURTROOM_SECRET_KEY"]


def test_serve_stops_on_a_bad_value_with_one_line(tmp_path: Path) -> None:
    done = _cli("serve", env={"COURTROOM_DATA_DIR": str(tmp_path), "COURTROOM_TICK_MS": "fast"})
    assert done.returncode != 0
    err = done.stderr.strip().splitlines()
    assert err == [
        "Error: configuration: COURTROOM_TICK_MS='fast' is not valid: "
        "expected an integer of milliseconds, 10-86400000"
    ]
