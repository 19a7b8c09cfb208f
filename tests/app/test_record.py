"""Record v2 through the server: the tree after each commit, checkpoints, proofs, bundles."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from clients._bundle import keys_from_document, verify_bundle
from clients.cli import main as client_main
from protocol.checkpoint import parse_note
from protocol.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from tests.conftest import Court


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
    return value


def run_session(court: Court) -> tuple[str, list[dict[str, Any]]]:
    """A session with a full round of four turns, a pause and a completion."""
    sid = court.new_session(title="Acme v. Zenith")
    for user, role, n in [
        ("pet1", "petitioner", 1),
        ("pet2", "petitioner", 2),
        ("res1", "respondent", 1),
        ("res2", "respondent", 2),
    ]:
        r = court.post(f"/api/session/{sid}/join", user, json={"role": role, "speaker": n})
        assert r.status_code == 200, r.text
    assert court.post(f"/api/session/{sid}/start").status_code == 200
    r = court.post(
        "/api/classroom/rounds",
        "faculty",
        json={"session_id": sid, "round_type": "PETITIONER_MAIN", "default_turn_seconds": 60},
    )
    assert r.status_code == 201, r.text
    rnd = r.json()
    assert court.post(f"/api/classroom/rounds/{rnd['id']}/start", "faculty").status_code == 200
    speakers = ["pet1", "res1", "pet2", "res2"]
    for turn, who in zip(rnd["turns"], speakers, strict=True):
        assert court.post(f"/api/classroom/turns/{turn['id']}/start", who).status_code == 200
        r = court.post(
            f"/api/classroom/turns/{turn['id']}/submit", who, json={"transcript": f"by {who}"}
        )
        assert r.status_code == 200, r.text
    assert court.post(f"/api/session/{sid}/pause").status_code == 200
    assert court.post(f"/api/session/{sid}/resume").status_code == 200
    assert court.post(f"/api/session/{sid}/complete").status_code == 200
    entries = court.get(f"/api/session/{sid}/replay").json()["entries"]
    return sid, entries


def checkpoints_through(court: Court, sid: str, size: int) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        cps: list[dict[str, Any]] = court.get(f"/api/session/{sid}/checkpoints").json()[
            "checkpoints"
        ]
        return cps if cps and cps[-1]["tree_size"] >= size else None

    result: list[dict[str, Any]] = wait_for(ready)
    return result


def test_checkpoints_proofs_receipt_and_bundle(
    court_factory: Callable[..., Court], db_url: str, tmp_path: Path
) -> None:
    court = court_factory(db_url)
    sid, entries = run_session(court)
    completed = next(e for e in entries if e["event_type"] == "SESSION_COMPLETED")
    cps = checkpoints_through(court, sid, completed["sequence_number"])
    keys = court.client.get("/.well-known/courtroom-keys").json()
    trusted = keys_from_document(keys)
    assert list(trusted) == [keys["current"]]

    tree = MemoryTree()
    for e in entries:
        tree.append(leaf_hash(e["hash"]))
    by_seq = {e["sequence_number"]: e for e in entries}
    reasons = {c["reason"] for c in cps}
    assert {"turn", "round", "pause", "completed"} <= reasons
    for c in cps:
        signed = parse_note(c["note"])
        assert signed.verify(trusted[c["key_id"]])
        size = c["tree_size"]
        assert bytes.fromhex(c["root_hash"]) == tree.root(size) == signed.checkpoint.root_hash
        assert c["chain_head"] == by_seq[size]["hash"]
        if c["reason"] == "turn":
            assert by_seq[size]["event_type"].startswith("TURN_")
    assert cps[-1]["tree_size"] == completed["sequence_number"]
    # The final checkpoint stands in the session's integrity record, beside integrity_hash.
    detail = court.get(f"/api/session/{sid}").json()
    assert detail["integrity_hash"] and detail["final_checkpoint"] == cps[-1]
    running = court.new_session()
    assert court.post(f"/api/session/{running}/start").status_code == 200
    assert court.post(f"/api/session/{running}/checkpoint").status_code == 201
    assert court.get(f"/api/session/{running}").json()["final_checkpoint"] is None

    # Inclusion and consistency proofs, RFC 9162 shapes, against the signed roots.
    first, last = cps[0], cps[-1]
    for seq in (1, first["tree_size"], last["tree_size"] // 2 + 1, last["tree_size"]):
        p = court.get(
            f"/api/session/{sid}/proof/inclusion",
            params={"sequence": seq, "size": last["tree_size"]},
        ).json()
        assert p["leaf_index"] == seq - 1 and p["root_hash"] == last["root_hash"]
        assert verify_inclusion(
            leaf_hash(by_seq[seq]["hash"]),
            seq - 1,
            last["tree_size"],
            [bytes.fromhex(h) for h in p["proof"]],
            bytes.fromhex(last["root_hash"]),
        )
    c = court.get(
        f"/api/session/{sid}/proof/consistency",
        params={"from": first["tree_size"], "to": last["tree_size"]},
    ).json()
    assert verify_consistency(
        first["tree_size"],
        last["tree_size"],
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(last["root_hash"]),
        [bytes.fromhex(h) for h in c["proof"]],
    )
    bad = court.get(f"/api/session/{sid}/proof/inclusion", params={"sequence": 5, "size": 3})
    assert bad.status_code == 422
    beyond = court.get(
        f"/api/session/{sid}/proof/inclusion", params={"sequence": 1, "size": 10_000}
    )
    assert beyond.status_code == 404

    # A speaker's receipt for their own submission; another student may not have it.
    pet1 = str(court.user_ids["pet1"])
    mine = next(e for e in entries if e["event_type"] == "TURN_SUBMITTED" and e["actor_id"] == pet1)
    seq = mine["sequence_number"]
    r = court.get(f"/api/session/{sid}/receipt", "pet1", params={"sequence": seq}).json()
    assert r["entry"] == mine
    assert r["checkpoint"]["tree_size"] == seq  # the turn boundary's own checkpoint
    assert parse_note(r["checkpoint"]["note"]).verify(trusted[r["checkpoint"]["key_id"]])
    assert verify_inclusion(
        leaf_hash(mine["hash"]),
        seq - 1,
        r["inclusion"]["tree_size"],
        [bytes.fromhex(h) for h in r["inclusion"]["proof"]],
        bytes.fromhex(r["checkpoint"]["root_hash"]),
    )
    assert (
        court.get(f"/api/session/{sid}/receipt", "res1", params={"sequence": seq}).status_code
        == 403
    )

    # On demand: a judge's checkpoint of the log as it is now; a student may not ask.
    assert court.post(f"/api/session/{sid}/checkpoint", "pet1").status_code == 403
    now = court.post(f"/api/session/{sid}/checkpoint").json()
    head = court.get(f"/api/session/{sid}/replay").json()["head"]
    assert now["tree_size"] == head["sequence_number"] and now["chain_head"] == head["hash"]
    assert court.post(f"/api/session/{sid}/checkpoint").json() == now  # one per size

    # The bundle: over HTTP, and through the client CLI, verifies with the published key.
    bundle = court.get(f"/api/session/{sid}/bundle").json()
    report = verify_bundle(bundle, trusted)
    assert report.valid, report.failures
    assert report.signed_size == head["sequence_number"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps(keys))
    runner = CliRunner()
    ok = runner.invoke(client_main, ["verify", str(path), "--keys", str(keyfile)])
    assert ok.exit_code == 0, ok.output
    vk = keys["keys"][0]["verifier_key"]
    assert runner.invoke(client_main, ["verify", str(path), "--key", vk]).exit_code == 0
    bundle["entries"] = bundle["entries"][:-3]
    path.write_text(json.dumps(bundle))
    cut = runner.invoke(client_main, ["verify", str(path), "--key", vk])
    assert cut.exit_code == 1 and "the tail was cut" in cut.output


def test_the_observer_receives_checkpoint_frames(court: Court) -> None:
    sid = court.new_session()
    with court.client.websocket_connect(f"/ws/sessions/{sid}") as obs:
        court.hello(obs)
        court.post(f"/api/session/{sid}/start")
        assert court.post(f"/api/session/{sid}/pause").status_code == 200
        for _ in range(200):
            msg = obs.receive_json()
            if msg["type"] == "checkpoint":
                break
        else:
            raise AssertionError("no checkpoint frame")
    assert msg["reason"] == "pause" and msg["session_id"] == sid
    keys = keys_from_document(court.client.get("/.well-known/courtroom-keys").json())
    assert parse_note(msg["note"]).verify(keys[msg["key_id"]])


def test_the_tree_catches_up_from_the_log_after_a_restart(
    court_factory: Callable[..., Court], tmp_path: Path
) -> None:
    court = court_factory()
    sid, entries = run_session(court)
    checkpoints_through(court, sid, len(entries))
    url = court.services.settings.database_url
    db = url.split("///", 1)[1]
    court.client.__exit__(None, None, None)
    # Lose the tree (a crash between the log's commit and the tree's, many times over).
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM merkle_nodes")
        c.execute("UPDATE courtroom_sessions SET tree_size = 0, tree_frontier = x''")
    again = court_factory(url)
    proof = wait_for(
        lambda: (
            (
                r := again.get(
                    f"/api/session/{sid}/proof/inclusion",
                    params={"sequence": 3, "size": len(entries)},
                )
            ).status_code
            == 200
            and r.json()
        )
    )
    tree = MemoryTree()
    for e in entries:
        tree.append(leaf_hash(e["hash"]))
    assert proof["root_hash"] == tree.root().hex()
    assert (
        base64.b64encode(tree.root()).decode()
        in again.get(f"/api/session/{sid}/checkpoints").json()["checkpoints"][-1]["note"]
    )


def test_a_receipt_for_an_entry_no_checkpoint_covers_yet(court: Court) -> None:
    sid = court.new_session()
    r = court.post(f"/api/session/{sid}/log", json={"event_type": "NOTE", "details": {"a": 1}})
    assert r.status_code == 200, r.text
    seq = r.json()["sequence_number"]
    receipt = court.get(f"/api/session/{sid}/receipt", params={"sequence": seq}).json()
    cp = receipt["checkpoint"]
    assert cp["reason"] == "receipt" and cp["tree_size"] >= seq
    keys = keys_from_document(court.client.get("/.well-known/courtroom-keys").json())
    assert parse_note(cp["note"]).verify(keys[cp["key_id"]])
    assert verify_inclusion(
        leaf_hash(receipt["entry"]["hash"]),
        seq - 1,
        cp["tree_size"],
        [bytes.fromhex(h) for h in receipt["inclusion"]["proof"]],
        bytes.fromhex(cp["root_hash"]),
    )
    missing = court.get(f"/api/session/{sid}/receipt", params={"sequence": 999})
    assert missing.status_code == 404
    malformed = court.get("/api/session/nope/receipt", params={"sequence": 1})
    assert malformed.status_code == 422  # ids are checked at the boundary
    unknown = court.get(
        "/api/session/00000000-0000-4000-8000-000000000000/receipt", params={"sequence": 1}
    )
    assert unknown.status_code == 404


def test_anonymous_observers_read_checkpoints_only_where_they_may_watch(court: Court) -> None:
    open_sid = court.new_session(title="open")
    closed_sid = court.new_session(title="closed", allow_anonymous_observers=False)
    for sid in (open_sid, closed_sid):
        assert court.post(f"/api/session/{sid}/start").status_code == 200
        assert court.post(f"/api/session/{sid}/pause").status_code == 200
        checkpoints_through(court, sid, 3)
    anonymous = court.client.get(f"/api/session/{open_sid}/checkpoints")
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json() == court.get(f"/api/session/{open_sid}/checkpoints").json()
    refused = court.client.get(f"/api/session/{closed_sid}/checkpoints")
    assert refused.status_code == 401
    assert "checkpoints" not in refused.json()
    missing = court.client.get("/api/session/00000000-0000-4000-8000-00000000dead/checkpoints")
    assert missing.status_code == 404
