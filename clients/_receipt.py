"""A speaker's receipt for an entry, checked offline (``GET /api/session/{id}/receipt``).

A receipt is ``{entry, checkpoint, inclusion}``: the entry, a checkpoint that
covers it, and the RFC 9162 inclusion proof of the entry's leaf in that
checkpoint's tree. It holds when the entry's chain v1 hash is its own, the
checkpoint's note is signed by a trusted key and says what its fields say, and
the proof takes the entry's leaf to the signed root. Then whoever holds the
deployment's public key can tell that the server signed a log containing this
entry, exactly as it is, at this position; a later log that lacks it
contradicts a signature the server cannot take back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clients._bundle import matches_note, parse_checkpoint
from protocol import entry_hash, hashes_equal
from protocol.checkpoint import CheckpointError
from protocol.merkle import leaf_hash, verify_inclusion


def verify_receipt(receipt: Any, trusted: Mapping[str, bytes]) -> list[str]:
    """What is wrong with ``receipt`` (empty: it holds); ``trusted``: key id → public key."""
    try:
        entry, cp, inclusion = (receipt[k] for k in ("entry", "checkpoint", "inclusion"))
        seq = int(entry["sequence_number"])
        claimed = str(entry["hash"])
        own = entry_hash(
            entry["session_id"],
            seq,
            entry["timestamp"],
            entry["event_type"],
            entry["actor_id"],
            entry["details"],
            entry["previous_hash"],
        )
        leaf = leaf_hash(claimed)
        proof = [bytes.fromhex(h) for h in inclusion["proof"]]
        proved_size = inclusion["tree_size"]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"not a receipt ({type(exc).__name__}: {exc})"]
    failures = []
    if not hashes_equal(own, claimed):
        failures.append(f"entry #{seq}: its hash is not its own (the entry was changed)")
    try:
        signed = parse_checkpoint(cp)
    except CheckpointError:
        return [*failures, "the checkpoint holds no signed note"]
    size = signed.checkpoint.tree_size
    if not matches_note(cp, signed):
        failures.append(f"the checkpoint (size {size}): its fields differ from its signed note")
    public = trusted.get(signed.key_id)
    if public is None:
        failures.append(f"the checkpoint is signed by key {signed.key_id}, which is not trusted")
    elif not signed.verify(public):
        failures.append("the checkpoint's signature does not verify")
    if signed.checkpoint.session_id != entry["session_id"]:
        failures.append(f"the checkpoint is signed for session {signed.checkpoint.session_id}")
    if not 1 <= seq <= size:
        failures.append(f"entry #{seq} is not in a tree of {size} entries")
    elif proved_size != size or not verify_inclusion(
        leaf, seq - 1, size, proof, signed.checkpoint.root_hash
    ):
        failures.append(f"entry #{seq} is not in the signed tree of size {size} by this proof")
    return failures
