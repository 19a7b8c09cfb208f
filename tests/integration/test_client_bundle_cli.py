"""``courtroom-client export --bundle`` and ``verify`` end to end, against a real server.

One uvicorn process (SQLite in a temporary data directory, the helper the
client's reconnect tests use) serves a session that runs to completion; the
client's command-line entry point exports its bundle over HTTP and verifies it
offline with the key list the server publishes, as a file and as a URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clients import HttpApi
from clients.cli import main as client_main
from server.common.signing import load_keyring
from tests.integration.procs import ServerProcess, judge_server

pytestmark = pytest.mark.integration

PASSWORD = "judge-password-123"
NOTES = ["counsel may proceed", "objection sustained", "the court will rule"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with judge_server(tmp_path_factory.mktemp("court"), PASSWORD) as proc:
        yield proc


async def completed_session(url: str) -> tuple[str, list[dict[str, Any]]]:
    """A session with a few notes, completed, once its final checkpoint is signed."""
    async with HttpApi(url) as api:
        await api.login("judge", PASSWORD)
        sid = str((await api.request("POST", "/api/session/create", json={"title": "t"}))["id"])
        await api.request("POST", f"/api/session/{sid}/start")
        for text in NOTES:
            body = {"event_type": "NOTE", "details": {"text": text}}
            await api.request("POST", f"/api/session/{sid}/log", json=body)
        await api.request("POST", f"/api/session/{sid}/complete")
        replay = await api.request("GET", f"/api/session/{sid}/replay")
        entries: list[dict[str, Any]] = replay["entries"]
        assert entries[-1]["event_type"] == "SESSION_COMPLETED"
        end = time.monotonic() + 10
        while True:  # the final checkpoint is signed just after the completion commits
            cps = (await api.request("GET", f"/api/session/{sid}/checkpoints"))["checkpoints"]
            if cps and cps[-1]["tree_size"] == len(entries):
                return sid, entries
            assert time.monotonic() < end, cps
            await asyncio.sleep(0.02)


async def published_keys(url: str) -> Any:
    async with HttpApi(url) as api:
        return await api.request("GET", "/.well-known/courtroom-keys")


def client(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(client_main, list(args), input=input)


def test_export_bundle_then_verify_it_with_the_published_keys(
    server: ServerProcess, tmp_path: Path
) -> None:
    url = server.base_url
    sid, entries = asyncio.run(completed_session(url))
    path = tmp_path / "session.bundle.json"
    login = ("-u", "judge", "--password-stdin")
    r = client("export", url, sid, "--bundle", "-o", str(path), *login, input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert f"exported {path.stat().st_size} bytes of bundle to {path}" in r.output
    assert not path.with_name(path.name + ".part").exists()
    n = len(entries)

    keys_url = url + "/.well-known/courtroom-keys"
    keys_file = tmp_path / "courtroom-keys.json"
    keys_file.write_bytes(json.dumps(asyncio.run(published_keys(url))).encode())
    signed = f"signed through #{n}"
    for keys in (keys_url, str(keys_file)):
        r = client("verify", str(path), "--keys", keys, "--require-complete")
        assert r.exit_code == 0, r.output
        assert f"valid: {n} entries" in r.output and signed in r.output
        assert "taken from the bundle itself" not in r.output

    # The same bundle on stdin, and as another tool re-serialises it (keys sorted:
    # "format" then comes after every checkpoint), is still read as a bundle.
    r = client("verify", "-", "--keys", str(keys_file), input=path.read_bytes())
    assert r.exit_code == 0 and signed in r.output, r.output
    resorted = tmp_path / "resorted.json"
    resorted.write_text(json.dumps(json.loads(path.read_bytes()), sort_keys=True, indent=1))
    r = client("verify", str(resorted), "--keys", keys_url, "--require-complete")
    assert r.exit_code == 0 and signed in r.output, r.output

    # One entry's details changed: the chain breaks there, and it is named.
    note = next(e for e in entries if e["details"].get("text") == NOTES[1])
    raw = path.read_bytes()
    assert raw.count(NOTES[1].encode()) == 1
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(raw.replace(NOTES[1].encode(), b"objection overruled"))
    r = client("verify", str(tampered), "--keys", keys_url, "--require-complete")
    assert r.exit_code == 1, r.output
    first = f"FAILED: entry #{note['sequence_number']}: the chain breaks here"
    assert r.output.startswith(first), r.output

    # The JSON Lines export of the same session verifies too, from stdin.
    lines = tmp_path / "session.jsonl"
    r = client("export", url, sid, "-o", str(lines), *login, input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    r = client("verify", "-", "--expect-head", entries[-1]["hash"], input=lines.read_bytes())
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"valid: {n} entries, head {entries[-1]['hash']}")


def test_a_receipt_for_an_entry_is_fetched_and_checked(
    server: ServerProcess, tmp_path: Path
) -> None:
    url = server.base_url
    sid, entries = asyncio.run(completed_session(url))
    note = next(e for e in entries if e["details"].get("text") == NOTES[1])
    seq = note["sequence_number"]
    login = ("-u", "judge", "--password-stdin")  # control may fetch any entry's receipt
    kept = tmp_path / "receipt.json"
    args = ("receipt", url, sid, "--sequence", str(seq), "-o", str(kept), *login)
    r = client(*args, input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"receipt holds: entry #{seq} (NOTE, hash {note['hash']})")
    got = json.loads(kept.read_bytes())
    assert got["entry"] == note and got["checkpoint"]["tree_size"] >= seq
    # Against keys the server did not publish, the same receipt does not hold.
    other = tmp_path / "other-keys.json"
    ring = load_keyring({"COURTROOM_DATA_DIR": str(tmp_path / "other")})
    other.write_bytes(json.dumps(ring.document()).encode())
    r = client(*args, "--keys", str(other), input=PASSWORD + "\n")
    assert r.exit_code == 1, r.output
    assert f"signed by key {got['checkpoint']['key_id']}, which is not trusted" in r.output
