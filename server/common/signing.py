"""The deployment's checkpoint signing keys (Ed25519), and ``courtroom keys show|rotate``.

Self-contained on purpose (it reads its own environment): where the key comes from,

* ``COURTROOM_SIGNING_KEY``: the base64 of a 32-byte Ed25519 seed, or
* ``COURTROOM_SIGNING_KEY_FILE``: a file holding that base64 text, or
* neither: ``<COURTROOM_DATA_DIR>/signing_keys.json`` (mode 0600), generated on
  first start, as the token secret is.

A cluster's nodes sign with the same key (the same variable) or with keys
listed together: ``COURTROOM_SIGNING_PUBLIC_KEYS`` adds verifier keys
(``name+keyid+base64``, comma-separated) to the published list, e.g. the
other nodes' keys or keys retired before the key moved into the environment.
``COURTROOM_SIGNING_KEY_NAME`` names the key in notes (default ``courtroom``).

Rotation (file keys only) makes a new current key and keeps every old public
key listed, with the time it stopped signing, so old bundles still verify;
the old private key is discarded.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from protocol import format_timestamp
from protocol.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    key_id,
    parse_verifier_key,
    public_key_bytes,
    sign,
    verifier_key,
)
from server.common.files import create_once

KEYS_FILE = "signing_keys.json"


class SigningKeyError(Exception):
    """The configured signing key cannot be read or used."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    name: str
    public: bytes
    valid_from: str | None
    valid_until: str | None  # None: still signing

    @property
    def key_id(self) -> str:
        return key_id(self.name, self.public)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(self.public).decode(),
            "verifier_key": verifier_key(self.name, self.public),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }


class Keyring:
    """The current private key and every public key a checkpoint may carry."""

    def __init__(self, name: str, private: Ed25519PrivateKey, keys: list[PublicKey]) -> None:
        self.name = name
        self._private = private
        self.keys = keys
        self.current = key_id(name, public_key_bytes(private.public_key()))

    def sign(self, checkpoint: Checkpoint) -> SignedCheckpoint:
        return sign(checkpoint, self._private, self.name)

    def document(self) -> dict[str, Any]:
        """The JSON of ``GET /.well-known/courtroom-keys``."""
        return {"current": self.current, "keys": [k.as_dict() for k in self.keys]}


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


def _seed(text: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise SigningKeyError("the signing key is not base64") from None
    if len(raw) != 32:
        raise SigningKeyError("the signing key must be a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _seed_text(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def _extra_keys(env: Mapping[str, str]) -> list[PublicKey]:
    out = []
    for text in filter(
        None, (t.strip() for t in env.get("COURTROOM_SIGNING_PUBLIC_KEYS", "").split(","))
    ):
        try:
            name, public = parse_verifier_key(text)
        except ValueError as exc:
            raise SigningKeyError(f"COURTROOM_SIGNING_PUBLIC_KEYS: {exc}") from None
        out.append(PublicKey(name, public, None, None))
    return out


def data_dir(env: Mapping[str, str]) -> Path:
    # As the server's settings read it: empty is unset (not the current directory).
    return Path(env.get("COURTROOM_DATA_DIR") or ".courtroom")


def load_keyring(env: Mapping[str, str] | None = None, *, data: Path | None = None) -> Keyring:
    """The keyring from the environment, else from (or into) the data directory.

    ``data``: the data directory the server's settings resolved (default: the env's).
    """
    env = os.environ if env is None else env
    name = env.get("COURTROOM_SIGNING_KEY_NAME", "courtroom")
    if any(c.isspace() or c == "+" for c in name) or not name:
        raise SigningKeyError("COURTROOM_SIGNING_KEY_NAME must be non-empty, no spaces or '+'")
    text = env.get("COURTROOM_SIGNING_KEY")
    if not text and (path := env.get("COURTROOM_SIGNING_KEY_FILE")):
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SigningKeyError(f"cannot read {path}: {exc.strerror}") from None
    if text:
        private = _seed(text)
        own = PublicKey(name, public_key_bytes(private.public_key()), None, None)
        others = [k for k in _extra_keys(env) if k.key_id != own.key_id]
        return Keyring(name, private, [own, *others])
    store = _load_file((data or data_dir(env)) / KEYS_FILE, name)
    return Keyring(name, store.private, store.keys + _extra_keys(env))


@dataclass(slots=True)
class _KeyFile:
    path: Path
    private: Ed25519PrivateKey
    keys: list[PublicKey]

    def text(self) -> str:
        doc = {
            "private_key": _seed_text(self.private),
            "keys": [
                {
                    "name": k.name,
                    "public_key": base64.b64encode(k.public).decode(),
                    "valid_from": k.valid_from,
                    "valid_until": k.valid_until,
                }
                for k in self.keys
            ],
        }
        return json.dumps(doc, indent=2)

    def save(self) -> None:
        """Replace the file (a rotation): a crash leaves the old file or the new one."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as f:  # mkstemp: mode 0600
            f.write(self.text())
        os.replace(tmp, self.path)


def _load_file(path: Path, name: str) -> _KeyFile:
    if path.exists():
        text = path.read_text()
    else:  # first start; another process starting at once may win, and then its key is used
        private = Ed25519PrivateKey.generate()
        first = PublicKey(name, public_key_bytes(private.public_key()), _now(), None)
        text = create_once(path, _KeyFile(path, private, [first]).text())
    try:
        doc = json.loads(text)
        private = _seed(doc["private_key"])
        keys = [
            PublicKey(
                k["name"], base64.b64decode(k["public_key"]), k["valid_from"], k["valid_until"]
            )
            for k in doc["keys"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not a signing key file ({exc})") from None
    return _KeyFile(path, private, keys)


def rotate(env: Mapping[str, str] | None = None) -> Keyring:
    """A new current key in the data directory's key file; old public keys stay listed."""
    env = os.environ if env is None else env
    if env.get("COURTROOM_SIGNING_KEY") or env.get("COURTROOM_SIGNING_KEY_FILE"):
        raise SigningKeyError(
            "the key comes from the environment: rotate it there, and list the old one"
            " in COURTROOM_SIGNING_PUBLIC_KEYS"
        )
    name = env.get("COURTROOM_SIGNING_KEY_NAME", "courtroom")
    kf = _load_file(data_dir(env) / KEYS_FILE, name)
    now = _now()
    old = key_id(name, public_key_bytes(kf.private.public_key()))
    kf.keys = [
        PublicKey(k.name, k.public, k.valid_from, now)
        if k.key_id == old and k.valid_until is None
        else k
        for k in kf.keys
    ]
    kf.private = Ed25519PrivateKey.generate()
    kf.keys.append(PublicKey(name, public_key_bytes(kf.private.public_key()), now, None))
    kf.save()
    return load_keyring(env)


@click.group("keys")
def keys_cli() -> None:
    """The checkpoint signing keys (Ed25519)."""


@keys_cli.command("show")
def show_cmd() -> None:
    """Print the published key list (the JSON of /.well-known/courtroom-keys)."""
    try:
        ring = load_keyring()
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(ring.document(), indent=2))


@keys_cli.command("rotate")
def rotate_cmd() -> None:
    """Start signing with a new key; the old public key stays listed. Restart the nodes."""
    try:
        ring = rotate()
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"now signing with {ring.current}")
