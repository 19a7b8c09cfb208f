"""A receipt (entry, signed checkpoint, inclusion proof) checked offline: each forgery is named."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from clients._bundle import keys_from_document
from clients._receipt import verify_receipt
from protocol import entry_hash
from protocol.merkle import MemoryTree, leaf_hash
from server.common.signing import Keyring, load_keyring
from tests.unit import test_bundle as unit

ring = unit.ring
SIZE = 12


def receipt_for(seq: int, ring: Keyring, size: int = SIZE) -> dict[str, Any]:
    entries = unit.make_entries()
    tree = MemoryTree()
    for e in entries[:size]:
        tree.append(leaf_hash(e["hash"]))
    (cp,) = unit.checkpoints_for(entries, [size], ring)
    proof = [p.hex() for p in tree.inclusion(seq - 1, size)] if seq <= size else []
    return {
        "entry": entries[seq - 1],
        "checkpoint": cp,
        "inclusion": {"tree_size": size, "proof": proof},
    }


def _rehash(r: dict[str, Any]) -> None:
    """The entry changed and its hash recomputed: it chains to itself, not into the tree."""
    e = r["entry"]
    e["details"] = {"text": "forged"}
    e["hash"] = entry_hash(
        e["session_id"], e["sequence_number"], e["timestamp"], e["event_type"], e["actor_id"],
        e["details"], e["previous_hash"],
    )  # fmt: skip


def _flip_proof(r: dict[str, Any]) -> None:
    p = r["inclusion"]["proof"]
    p[0] = ("0" if p[0][0] != "0" else "1") + p[0][1:]


def _flip_signature(r: dict[str, Any]) -> None:
    note: str = r["checkpoint"]["note"]
    body, sig_line = note.rstrip("\n").rsplit("\n", 1)
    dash, name, b64 = sig_line.split(" ")
    i = len(b64) // 2  # inside the signature, past the key id's four bytes
    b64 = b64[:i] + ("A" if b64[i] != "A" else "B") + b64[i + 1 :]
    r["checkpoint"]["note"] = f"{body}\n{dash} {name} {b64}\n"


FORGERIES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "details changed": (
        lambda r: r["entry"].update(details={"text": "forged"}),
        "entry #7: its hash is not its own",
    ),
    "entry re-hashed": (_rehash, "entry #7 is not in the signed tree of size 12 by this proof"),
    "proof changed": (_flip_proof, "entry #7 is not in the signed tree of size 12 by this proof"),
    "proof for another size": (
        lambda r: r["inclusion"].update(tree_size=11),
        "entry #7 is not in the signed tree of size 12",
    ),
    "signature changed": (_flip_signature, "the checkpoint's signature does not verify"),
    "fields not the note's": (
        lambda r: r["checkpoint"].update(tree_size=20),
        "the checkpoint (size 12): its fields differ from its signed note",
    ),
    "no note": (lambda r: r["checkpoint"].pop("note"), "the checkpoint holds no signed note"),
    "another session's entry": (
        lambda r: r["entry"].update(session_id="00000000-0000-4000-8000-000000000000"),
        "the checkpoint is signed for session",
    ),
    "not a receipt": (lambda r: r.pop("inclusion"), "not a receipt"),
}


def test_an_honest_receipt_holds(ring: Keyring) -> None:
    trusted = keys_from_document(ring.document())
    for seq in (1, 7, SIZE):
        assert verify_receipt(receipt_for(seq, ring), trusted) == []


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_each_forgery_is_named(name: str, ring: Keyring) -> None:
    forge, said = FORGERIES[name]
    r = copy.deepcopy(receipt_for(7, ring))
    forge(r)
    failures = verify_receipt(r, keys_from_document(ring.document()))
    assert any(said in f for f in failures), failures


def test_another_key_or_an_entry_past_the_checkpoint_does_not_hold(
    ring: Keyring, tmp_path: Any
) -> None:
    other = load_keyring({"COURTROOM_DATA_DIR": str(tmp_path / "other")})
    failures = verify_receipt(receipt_for(7, ring), keys_from_document(other.document()))
    assert failures == [f"the checkpoint is signed by key {ring.current}, which is not trusted"]
    failures = verify_receipt(receipt_for(15, ring), keys_from_document(ring.document()))
    assert failures == ["entry #15 is not in a tree of 12 entries"]
