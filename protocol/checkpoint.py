"""Signed checkpoints: a C2SP checkpoint body in a C2SP signed note (Ed25519).

The body (docs/protocol.md, "Signed checkpoints", has the exact bytes and vectors)::

    courtroom/session/<session id>
    <tree size, decimal>
    <root hash, standard base64>
    chain <chain v1 hash of entry #size, hex; 64 zeros when size is 0>
    time <log timestamp of issue>

each line ending in one ``\\n``. The signature is Ed25519 over exactly those
bytes; the note appends an empty line and one signature line
``— <key name> <base64(key id (4 bytes) || signature (64 bytes))>``. The key
id is C2SP's: the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ORIGIN_PREFIX = "courtroom/session/"
ED25519 = 0x01
_DASH = "\u2014"


class CheckpointError(ValueError):
    """A checkpoint text that does not parse, or whose signature does not verify."""


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public: bytes) -> str:
    """C2SP signed-note key id (4 bytes), as 8 hex digits."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4].hex()


def verifier_key(name: str, public: bytes) -> str:
    """The C2SP verifier key string ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
    return f"{name}+{key_id(name, public)}+{base64.b64encode(bytes([ED25519]) + public).decode()}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """``(name, raw public key)`` from a verifier key string; checks its key id."""
    try:
        name, kid, b64 = text.strip().split("+", 2)  # a name has no "+"; base64 may
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise CheckpointError("not a verifier key (name+keyid+base64)") from None
    if len(raw) != 33 or raw[0] != ED25519 or key_id(name, raw[1:]) != kid.lower():
        raise CheckpointError("verifier key: wrong algorithm, length or key id")
    return name, raw[1:]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    session_id: str
    tree_size: int
    root_hash: bytes
    chain_head: str
    time: str

    def body(self) -> bytes:
        return (
            f"{ORIGIN_PREFIX}{self.session_id}\n{self.tree_size}\n"
            f"{base64.b64encode(self.root_hash).decode()}\n"
            f"chain {self.chain_head}\ntime {self.time}\n"
        ).encode()


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    key_name: str
    key_id: str
    signature: bytes

    def note(self) -> str:
        sig = base64.b64encode(bytes.fromhex(self.key_id) + self.signature).decode()
        return f"{self.checkpoint.body().decode()}\n{_DASH} {self.key_name} {sig}\n"

    def as_dict(self) -> dict[str, Any]:
        c = self.checkpoint
        return {
            "session_id": c.session_id,
            "tree_size": c.tree_size,
            "root_hash": c.root_hash.hex(),
            "chain_head": c.chain_head,
            "time": c.time,
            "key_id": self.key_id,
            "note": self.note(),
        }

    def verify(self, public: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(
                self.signature, self.checkpoint.body()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey, name: str) -> SignedCheckpoint:
    kid = key_id(name, public_key_bytes(key.public_key()))
    return SignedCheckpoint(checkpoint, name, kid, key.sign(checkpoint.body()))


_BODY = re.compile(
    r"\A" + re.escape(ORIGIN_PREFIX) + r"([^\n]+)\n(0|[1-9][0-9]{0,18})\n([A-Za-z0-9+/]{43}=)\n"
    r"chain ([0-9a-f]{64})\ntime ([^\n]+)\n\Z"
)
_SIG = re.compile(r"\A" + _DASH + r" ([^\s+]+) ([A-Za-z0-9+/=]+)\n\Z")


def parse_note(note: str) -> SignedCheckpoint:
    """Parse a signed checkpoint note (one signature line). Does not verify it."""
    body, sep, sig_line = note.partition("\n\n")
    m = _BODY.match(body + "\n") if sep else None
    s = _SIG.match(sig_line)
    if m is None or s is None:
        raise CheckpointError("not a courtroom checkpoint note")
    try:
        raw = base64.b64decode(s.group(2), validate=True)
    except binascii.Error:
        raise CheckpointError("signature is not base64") from None
    if len(raw) != 68:
        raise CheckpointError("signature is not a key id and an Ed25519 signature")
    cp = Checkpoint(
        m.group(1), int(m.group(2)), base64.b64decode(m.group(3)), m.group(4), m.group(5)
    )
    return SignedCheckpoint(cp, s.group(1), raw[:4].hex(), raw[4:])
