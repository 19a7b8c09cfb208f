"""Processes starting at once on one data directory end up with one key each kind, not one each."""

from __future__ import annotations

import multiprocessing as mp
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.common.config import Settings
from server.common.files import create_once
from server.common.signing import KEYS_FILE, load_keyring

RACERS = 6


def _signing_key(data: str) -> str:
    return load_keyring({"COURTROOM_DATA_DIR": data}).current


def _token_secret(data: str) -> str:
    return Settings.from_env({"COURTROOM_DATA_DIR": data}).resolved_secret()


def _racer(fn: Callable[[str], str], data: str, start: Any, out: Any) -> None:
    start.wait()  # all at once: each finds no file and makes a key of its own
    out.put(fn(data))


def _race(fn: Callable[[str], str], data: Path) -> list[str]:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(fn, str(data), start, out)) for _ in range(RACERS)]
    for p in procs:
        p.start()
    got = [out.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return got


def test_racing_first_starts_sign_with_one_key(tmp_path: Path) -> None:
    got = _race(_signing_key, tmp_path)
    assert len(set(got)) == 1, got
    assert load_keyring({"COURTROOM_DATA_DIR": str(tmp_path)}).current == got[0]
    assert [p.name for p in tmp_path.iterdir()] == [KEYS_FILE]  # no temporary file left


def test_racing_first_starts_share_one_token_secret(tmp_path: Path) -> None:
    got = _race(_token_secret, tmp_path)
    assert len(set(got)) == 1 and len(got[0]) >= 32
    assert (tmp_path / "secret_key").read_text() == got[0]


def test_create_once_keeps_what_exists(tmp_path: Path) -> None:
    path = tmp_path / "d" / "k"
    assert create_once(path, "first") == "first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_once(path, "second") == "first"
    assert path.read_text() == "first"
    assert [p.name for p in path.parent.iterdir()] == ["k"]
