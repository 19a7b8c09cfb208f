"""``courtroom-client verify``: what it was given (a bundle or an export, a file or stdin)
and where its keys come from (a file, a URL, a URL that does not answer)."""

from __future__ import annotations

import copy
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clients import _bundle, _cli_bundle
from clients._bundle_lines import RowLines
from clients.cli import main as client_main
from server.common.signing import Keyring, load_keyring
from tests.integration.procs import free_port
from tests.unit import test_bundle as unit
from tests.unit.test_bundle import (
    _chain,
    checkpoints_for,
    export_bytes,
    make_entries,
    to_v2,
)

# The bundle tests' fixtures: a key ring, and a completed session's bundle signed with it.
ring = unit.ring
bundle = unit.bundle

VALID = "valid: 20 entries, 5 signed checkpoints, signed through #20"


def verify(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(client_main, ["verify", *args], input=input)


# Ways another tool may have written the same bundle: the format marker need not
# come first, nor on the first line, nor near the start of the file.
LAYOUTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "as export writes it": lambda b: export_bytes(to_v2(b)),
    "one line": lambda b: json.dumps(b).encode(),
    "one line, keys sorted": lambda b: json.dumps(b, sort_keys=True).encode(),
    "format 2, keys sorted": lambda b: json.dumps(to_v2(b), sort_keys=True).encode(),
    "indented, keys sorted": lambda b: json.dumps(b, sort_keys=True, indent=2).encode(),
    "indented, CRLF, leading blank lines": lambda b: (
        b"\r\n\r\n" + json.dumps(b, indent=1).replace("\n", "\r\n").encode() + b"\r\n"
    ),
}


@pytest.fixture(params=["a whole file at a glance", "a glance of 16 bytes"])
def head(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 16 bytes, every first line runs on past the glance: the file is read whole."""
    if request.param == "a glance of 16 bytes":
        monkeypatch.setattr(_cli_bundle, "HEAD", 16)


@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_bundle_is_read_as_one_however_it_is_laid_out(
    layout: str, source: str, bundle: dict[str, Any], tmp_path: Path, head: None
) -> None:
    # The marker comes after the whole (large) checkpoint list once keys are sorted.
    text = LAYOUTS[layout](bundle)
    path = tmp_path / "b.json"
    path.write_bytes(text)
    r = verify(str(path)) if source == "file" else verify("-", input=text)
    assert r.exit_code == 0, r.output
    assert VALID in r.output
    # ... and a tampered one fails as a bundle, naming the entry.
    bad = copy.deepcopy(bundle)
    bad["entries"][6]["details"]["text"] = "forged"
    text = LAYOUTS[layout](bad)
    path.write_bytes(text)
    r = verify(str(path)) if source == "file" else verify("-", input=text)
    assert r.exit_code == 1, r.output
    assert "FAILED: entry #7: the chain breaks here" in r.output


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in entries)


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_an_export_is_read_as_json_lines_from_a_file_or_stdin(
    source: str, tmp_path: Path, head: None
) -> None:
    entries = make_entries()
    entries[0]["details"] = {"text": "x" * 300}  # a first line longer than a 16-byte glance
    _chain(entries)
    path = tmp_path / "e.jsonl"
    for text, code, said in [
        (jsonl(entries), 0, f"valid: 20 entries, head {entries[-1]['hash']}"),
        (b"\n" + jsonl(entries), 0, "valid: 20 entries"),
        (jsonl(entries).replace(b"speech 4", b"speech 5"), 1, "first bad entry is sequence 5"),
        (b"", 0, "valid: 0 entries"),
        (b'{"sequence_number": 1, "x": nope}\n', 2, "line 1: not JSON"),
    ]:
        path.write_bytes(text)
        r = verify(str(path)) if source == "file" else verify("-", input=text)
        assert (r.exit_code, said in r.output) == (code, True), r.output


def test_bundle_options_on_an_export_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl(make_entries()))
    r = verify(str(path), "--require-complete")
    assert r.exit_code == 2
    assert "is a JSON Lines export, not a bundle" in r.output


def test_an_export_option_on_a_bundle_is_refused_by_name(
    bundle: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(LAYOUTS["as export writes it"](bundle))
    r = verify(str(path), "--expect-head", bundle["entries"][-1]["hash"])
    assert r.exit_code == 2
    assert "is a bundle: --expect-head checks a JSON Lines export" in r.output


def test_not_a_bundle_nor_an_export_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    for text, said in [
        (b'{"format": "courtroom-bundle/9", "entries": []}', "not a courtroom-bundle/2"),
        (b'{"format": "courtroom-bundle/1",\n "entries": [', "not a JSON bundle"),
        (b'{"format": "courtroom-bundle/2",\n "entries": [[1, 2]}', "not a JSON bundle"),
        # Neither one JSON document nor a bundle's: JSON Lines, and its first bad line.
        (b'[\n{"sequence_number": 1}\n]\n', "line 1: not JSON"),
        (b'{"sequence_number": 1,\n"session_id": "x"}\n', "line 1: not JSON"),
        (b"\xff\xfe\n", "line 1: not UTF-8"),
    ]:
        path.write_bytes(text)
        r = verify(str(path))
        assert r.exit_code == 2 and said in r.output, r.output
    r = verify(str(tmp_path / "missing.json"))
    assert r.exit_code == 2 and "cannot read" in r.output and "missing.json" in r.output


@pytest.mark.parametrize("glance", [64, 256, 1 << 16])
def test_a_long_bundle_as_export_writes_it_is_read_once_and_not_parsed_whole(
    glance: int, bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What bench/bench_bundle.py times: the CLI keeps the export layout's rows unparsed
    (each range parsed by the process that verifies it) and reads the file whole once
    (the glance at its start aside), whether its first line fits the glance or not."""
    monkeypatch.setattr(_bundle, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_cli_bundle, "HEAD", glance)
    path = tmp_path / "b.json"
    path.write_bytes(export_bytes(to_v2(bundle)))
    seen: list[Any] = []
    verify_bundle = _bundle.verify_bundle

    def spy(doc: Any, *args: Any, **kw: Any) -> Any:
        seen.append(doc["entries"])
        return verify_bundle(doc, *args, **kw)

    monkeypatch.setattr(_cli_bundle, "verify_bundle", spy)
    reads: list[Path] = []
    read_bytes = Path.read_bytes

    def counted(self: Path) -> bytes:
        reads.append(self)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    r = verify(str(path))
    assert r.exit_code == 0, r.output
    assert len(seen) == 1 and isinstance(seen[0], RowLines)
    assert reads == ([path] if path.stat().st_size >= glance else [])


# -- --keys URL ---------------------------------------------------------------------


@pytest.fixture
def keys_server(ring: Keyring) -> Iterator[str]:
    """A stdlib HTTP server on loopback: the key list at /.well-known/courtroom-keys."""
    body = json.dumps(ring.document()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/keys":  # moved, as a proxy or a site's keys page may say
                self.send_response(302)
                self.send_header("Location", "/.well-known/courtroom-keys")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            found = self.path == "/.well-known/courtroom-keys"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            out = body if found else b'{"detail": "Not Found"}'
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_keys_from_a_url_verify_a_bundle(
    keys_server: str, bundle: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(export_bytes(to_v2(bundle)))
    url = keys_server + "/.well-known/courtroom-keys"
    for given in (url, keys_server + "/keys"):  # the second redirects to the first
        r = verify(str(path), "--keys", given, "--require-complete")
        assert r.exit_code == 0, r.output
        assert VALID in r.output and "taken from the bundle itself" not in r.output
    # The served keys are the ones trusted: a checkpoint signed by another key fails.
    other = load_keyring({"COURTROOM_DATA_DIR": str(tmp_path / "other")})
    bundle["checkpoints"][-1] = checkpoints_for(bundle["entries"], [20], other)[0]
    path.write_bytes(export_bytes(to_v2(bundle)))
    r = verify(str(path), "--keys", url)
    assert r.exit_code == 1 and "which is not trusted" in r.output, r.output


def test_keys_from_a_url_that_cannot_be_fetched_could_not_run(
    keys_server: str, bundle: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(json.dumps(bundle).encode())
    nobody = f"http://127.0.0.1:{free_port()}/.well-known/courtroom-keys"  # nothing listens
    for url, why in [
        (nobody, "no response"),
        (keys_server + "/no/such/keys", "HTTP 404"),
        ("http:///.well-known/courtroom-keys", "not a server URL"),
    ]:
        r = verify(str(path), "--keys", url)
        assert r.exit_code == 2, r.output
        assert f"cannot fetch keys from {url}" in r.output and why in r.output, r.output
        assert "valid" not in r.output
