"""The typed shapes of the verifiable record's responses (issue 11, ``server/http/routes/record.py``).

Keys, signed checkpoints, inclusion and consistency proofs, receipts and the
bundle; the entries inside them are ``models.LogEntry``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.http.routes.models import CheckpointOut, LogEntry, SessionStatus


class PublicKeyOut(BaseModel):
    key_id: str
    name: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="base64 of the 32-byte Ed25519 public key")
    verifier_key: str = Field(description="name+keyid+base64, as signed notes name it")
    valid_from: str | None
    valid_until: str | None = Field(description="null while the key still signs")


class KeyList(BaseModel):
    current: str
    keys: list[PublicKeyOut]


class CheckpointList(BaseModel):
    session_id: str
    checkpoints: list[CheckpointOut]


class InclusionProof(BaseModel):
    session_id: str
    sequence_number: int
    leaf_index: int
    tree_size: int
    root_hash: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    model_config = {"populate_by_name": True}

    session_id: str
    from_: int = Field(alias="from")
    to: int
    from_root: str
    to_root: str
    proof: list[str]


class Receipt(BaseModel):
    entry: LogEntry
    checkpoint: CheckpointOut
    inclusion: InclusionProof


BundleRow = tuple[str, int, str, str, str | None, str, str, str]


class Bundle(BaseModel):
    """An offline-verifiable session: its log, its checkpoints and the keys that signed them."""

    format: Literal["courtroom-bundle/2"]
    session_id: str
    status: SessionStatus
    entries: list[BundleRow] = Field(
        description="each entry as [session_id, sequence_number, timestamp, event_type,"
        " actor_id, details (the canonical JSON text that was hashed), previous_hash, hash]"
        " (docs/protocol.md §4)"
    )
    checkpoints: list[CheckpointOut]
    keys: list[PublicKeyOut]
