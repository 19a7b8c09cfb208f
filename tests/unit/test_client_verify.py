"""``courtroom-client verify``: offline verification of export files, good and tampered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from clients import UnreadableExport, verify_export, verify_lines
from clients.cli import main
from protocol import GENESIS_HASH, entry_hash

SID = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"

# PROTOCOL.md section 1 test vectors: the verifier must accept exactly these hashes.
VECTORS: list[tuple[str, str | None, dict[str, Any], str]] = [
    (
        "SESSION_STARTED",
        "7",
        {"status": "active", "from": "pending"},
        "208df97120abc77d972d1fd5a496ee2e47c0405b0b12ede3dea9e387b965cd72",
    ),
    (
        "PARTICIPANT_JOINED",
        "12",
        {"role": "petitioner", "name": "Zoë Ança", "speaker": 1},
        "9a159291f6f9f79fa0ffef518cc1a5906618af7cb32e1bf0a6ae66d8ebaef065",
    ),
    (
        "OBSERVER_JOINED",
        None,
        {"anonymous": True},
        "38bef122d08fd18335b193917ab53a8e137a7ff17f2d4c2545a702a8f9d0fcf5",
    ),
]
VECTOR_TIMES = [
    "2026-02-15T10:00:00.000000+00:00",
    "2026-02-15T10:00:05.250000+00:00",
    "2026-02-15T10:00:09.125000+00:00",
]


def make_chain(n: int, session_id: str = SID) -> list[dict[str, Any]]:
    """``n`` entries chained with chain v1, as the server's export writes them."""
    entries: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        ts = f"2026-02-15T10:00:{seq:02d}.000000+00:00"
        details = {"i": seq, "text": f"note {seq}", "nested": {"ok": True, "list": [1, None]}}
        actor = None if seq % 3 == 0 else str(seq)
        h = entry_hash(session_id, seq, ts, "NOTE", actor, details, prev)
        entries.append(
            {
                "session_id": session_id,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": "NOTE",
                "actor_id": actor,
                "details": details,
                "previous_hash": prev,
                "hash": h,
            }
        )
        prev = h
    return entries


def write_export(path: Path, entries: list[Any]) -> Path:
    # orjson, compact, like the server's ``LogEntry.json_line``.
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    return path


def run_verify(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(main, ["verify", *args], input=input)


@pytest.fixture
def good(tmp_path: Path) -> list[dict[str, Any]]:
    return make_chain(6)


def test_valid_export(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    path = write_export(tmp_path / "ok.jsonl", good)
    result = run_verify(str(path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid: 6 entries, head {good[-1]['hash']}"


def test_protocol_test_vectors_verify(tmp_path: Path) -> None:
    entries = []
    prev = GENESIS_HASH
    for seq, ((event_type, actor, details, expected), ts) in enumerate(
        zip(VECTORS, VECTOR_TIMES, strict=True), start=1
    ):
        entries.append(
            {
                "session_id": SID,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": event_type,
                "actor_id": actor,
                "details": details,
                "previous_hash": prev,
                "hash": expected,
            }
        )
        prev = expected
    # ensure_ascii=False on purpose: the file holds "Zoë" as UTF-8, not as an escape.
    path = tmp_path / "vectors.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), "utf-8")
    result = run_verify(str(path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid: 3 entries, head {VECTORS[-1][3]}"


Tamper = Callable[[list[dict[str, Any]]], list[Any]]


def _set(i: int, key: str, value: Any) -> Tamper:
    def tamper(entries: list[dict[str, Any]]) -> list[Any]:
        entries[i][key] = value
        return entries

    return tamper


def _detail(entries: list[dict[str, Any]]) -> list[Any]:
    entries[2]["details"]["text"] = "note 3, amended"
    return entries


def _added_detail(entries: list[dict[str, Any]]) -> list[Any]:
    entries[3]["details"]["extra"] = 1
    return entries


def _float_detail(entries: list[dict[str, Any]]) -> list[Any]:
    entries[1]["details"]["i"] = 2.0  # same number, but floats are not chain v1
    return entries


def _rehashed(entries: list[dict[str, Any]]) -> list[Any]:
    # A forger who recomputes entry 3's hash still breaks entry 4's link.
    e = entries[2]
    e["details"] = {"forged": True}
    e["hash"] = entry_hash(
        SID,
        3,
        e["timestamp"],
        e["event_type"],
        e["actor_id"],
        e["details"],
        e["previous_hash"],
    )
    return entries


def _drop(i: int) -> Tamper:
    return lambda entries: entries[:i] + entries[i + 1 :]


def _swap(i: int, j: int) -> Tamper:
    def tamper(entries: list[dict[str, Any]]) -> list[Any]:
        entries[i], entries[j] = entries[j], entries[i]
        return entries

    return tamper


def _duplicate(entries: list[dict[str, Any]]) -> list[Any]:
    return entries[:3] + [entries[2]] + entries[3:]


def _missing_field(entries: list[dict[str, Any]]) -> list[Any]:
    del entries[1]["timestamp"]
    return entries


def _not_an_object(entries: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = list(entries)
    out[4] = [entries[4]]  # valid JSON, but an array
    return out


def _foreign_entry(entries: list[dict[str, Any]]) -> list[Any]:
    # A valid entry 3 of another session, spliced in.
    other = make_chain(3, "11111111-2222-3333-4444-555555555555")
    entries[2] = other[2]
    return entries


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        pytest.param(_detail, 3, id="detail-changed"),
        pytest.param(_added_detail, 4, id="detail-added"),
        pytest.param(_float_detail, 2, id="detail-int-to-float"),
        pytest.param(_set(1, "hash", "a" * 64), 2, id="hash-changed"),
        pytest.param(_set(3, "previous_hash", "b" * 64), 4, id="previous-hash-changed"),
        pytest.param(_set(4, "actor_id", "999"), 5, id="actor-changed"),
        pytest.param(_set(0, "actor_id", None), 1, id="actor-erased"),
        pytest.param(
            _set(2, "timestamp", "2026-02-15T10:00:03.000001+00:00"), 3, id="timestamp-changed"
        ),
        pytest.param(_set(5, "event_type", "SESSION_COMPLETED"), 6, id="event-type-changed"),
        pytest.param(_set(2, "sequence_number", 30), 30, id="sequence-changed"),
        pytest.param(_rehashed, 4, id="rehashed-entry"),
        pytest.param(_drop(2), 4, id="line-dropped"),
        pytest.param(_drop(0), 2, id="first-line-dropped"),
        pytest.param(_swap(1, 2), 3, id="lines-reordered"),
        pytest.param(_duplicate, 3, id="line-duplicated"),
        pytest.param(_missing_field, 2, id="field-missing"),
        pytest.param(_not_an_object, 5, id="line-not-an-object"),
        pytest.param(_foreign_entry, 3, id="entry-of-another-session"),
    ],
)
def test_tampered_export(
    tmp_path: Path, good: list[dict[str, Any]], tamper: Tamper, first_bad: int
) -> None:
    path = write_export(tmp_path / "bad.jsonl", tamper(good))
    result = run_verify(str(path))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"invalid: first bad entry is sequence {first_bad} ")
    assert verify_export(path).first_invalid_sequence == first_bad


def test_truncated_tail_needs_the_expected_head(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    # Dropping the last entries leaves a valid chain: only a known head exposes it.
    path = write_export(tmp_path / "short.jsonl", good[:4])
    assert run_verify(str(path)).exit_code == 0
    result = run_verify(str(path), "--expect-head", good[-1]["hash"])
    assert result.exit_code == 1
    assert "invalid: head is" in result.output
    assert run_verify(str(path), "--expect-head", good[3]["hash"].upper()).exit_code == 0


def test_json_output(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    path = write_export(tmp_path / "bad.jsonl", _detail(good))
    result = run_verify(str(path), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "valid": False,
        "entries": 3,
        "head_hash": good[1]["hash"],
        "first_invalid_sequence": 3,
        "head_matches": True,
    }


def test_reads_stdin(good: list[dict[str, Any]]) -> None:
    data = b"".join(orjson.dumps(e) + b"\n" for e in good)
    result = run_verify("-", input=data)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid: 6 entries")


def test_blank_lines_and_crlf_are_tolerated(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\r\n".join(orjson.dumps(e) for e in good[:3]) + b"\r\n\r\n\n")
    result = run_verify(str(path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid: 3 entries")


def test_empty_export_is_valid_and_says_zero(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    result = run_verify(str(path))
    assert result.exit_code == 0
    assert result.output.strip() == f"valid: 0 entries, head {GENESIS_HASH}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b'{"session_id": "x"\n', "line 1: not JSON", id="broken-json"),
        pytest.param(b"\xff\xfe\n", "line 1: not UTF-8", id="not-utf8"),
        pytest.param(None, "cannot read", id="missing-file"),
    ],
)
def test_unreadable_input_exits_2(
    tmp_path: Path, good: list[dict[str, Any]], content: bytes | None, message: str
) -> None:
    path = tmp_path / "unreadable.jsonl"
    if content is not None:
        # A readable first line, so the error names the right line number.
        path.write_bytes(content)
    result = run_verify(str(path))
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unreadable_line_number(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in good[:2]) + b"not json\n")
    with pytest.raises(UnreadableExport) as info:
        verify_export(path)
    assert info.value.line == 3
    assert run_verify(str(path)).exit_code == 2


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert run_verify(str(tmp_path)).exit_code == 2


def test_verify_lines_accepts_text_and_bytes(good: list[dict[str, Any]]) -> None:
    text = [json.dumps(e) for e in good]
    raw = [orjson.dumps(e) for e in good]
    assert verify_lines(text) == verify_lines(raw)
    assert verify_lines(text).valid
