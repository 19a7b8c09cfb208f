"""Signing keys: generated into the data dir, from the environment, rotated."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol.checkpoint import Checkpoint, parse_verifier_key
from server.common.config import Settings
from server.common.signing import KEYS_FILE, SigningKeyError, data_dir, load_keyring, rotate
from server.node.cli import main

CP = Checkpoint("s", 1, bytes(32), "ab" * 32, "2026-12-02T14:30:00.000000+00:00")


def test_a_key_is_generated_once_into_the_data_dir_mode_0600(tmp_path: Path) -> None:
    env = {"COURTROOM_DATA_DIR": str(tmp_path)}
    ring = load_keyring(env)
    path = tmp_path / KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_keyring(env)
    assert again.current == ring.current
    assert [k.key_id for k in ring.keys] == [ring.current]
    signed = ring.sign(CP)
    assert signed.key_id == ring.current and signed.verify(ring.keys[0].public)


def test_rotation_keeps_old_public_keys_and_their_signatures_verify(tmp_path: Path) -> None:
    env = {"COURTROOM_DATA_DIR": str(tmp_path)}
    before = load_keyring(env)
    old_sig = before.sign(CP)
    after = rotate(env)
    assert after.current != before.current
    listed = {k.key_id: k for k in after.keys}
    assert set(listed) == {before.current, after.current}
    assert listed[before.current].valid_until is not None
    assert listed[after.current].valid_until is None
    assert old_sig.verify(listed[before.current].public)
    assert "private" not in str(after.document())


def test_key_from_the_environment_and_extra_public_keys(tmp_path: Path) -> None:
    seed = base64.b64encode(bytes(range(32))).decode()
    other = load_keyring({"COURTROOM_DATA_DIR": str(tmp_path)})
    extra = other.keys[0].as_dict()["verifier_key"]
    env = {
        "COURTROOM_DATA_DIR": str(tmp_path / "unused"),
        "COURTROOM_SIGNING_KEY": seed,
        "COURTROOM_SIGNING_PUBLIC_KEYS": extra,
    }
    ring = load_keyring(env)
    assert ring.current == "fe0af3c6"  # the docs/protocol.md vector key
    assert [k.key_id for k in ring.keys] == ["fe0af3c6", other.current]
    assert not (tmp_path / "unused").exists()
    keyfile = tmp_path / "seed.txt"
    keyfile.write_text(seed + "\n")
    assert load_keyring({"COURTROOM_SIGNING_KEY_FILE": str(keyfile)}).current == "fe0af3c6"
    with pytest.raises(SigningKeyError):
        rotate(env)
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(SigningKeyError):
            load_keyring({"COURTROOM_SIGNING_KEY": bad})
    with pytest.raises(SigningKeyError):
        load_keyring({"COURTROOM_SIGNING_KEY": seed, "COURTROOM_SIGNING_PUBLIC_KEYS": "x+y+z"})


def test_keys_cli_show_and_rotate(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"COURTROOM_DATA_DIR": str(tmp_path)}
    shown = runner.invoke(main, ["keys", "show"], env=env)
    assert shown.exit_code == 0, shown.output
    assert '"current"' in shown.output
    rotated = runner.invoke(main, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0 and rotated.output.startswith("now signing with ")
    ring = load_keyring(env)
    assert len(ring.keys) == 2
    for k in ring.keys:
        assert parse_verifier_key(k.as_dict()["verifier_key"]) == (k.name, k.public)
    bad = runner.invoke(main, ["keys", "rotate"], env={**env, "COURTROOM_SIGNING_KEY": "x"})
    assert bad.exit_code == 1 and "environment" in bad.output


def test_the_cli_and_the_server_read_an_empty_data_dir_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"COURTROOM_DATA_DIR": ""}
    assert data_dir(env) == Settings.from_env(env).data_dir == Path(".courtroom")
    load_keyring(env)
    assert (tmp_path / ".courtroom" / KEYS_FILE).exists()
    assert not (tmp_path / KEYS_FILE).exists()
