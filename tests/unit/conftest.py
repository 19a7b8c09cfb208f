"""Fixtures shared by the bundle verifier's tests (test_bundle.py, test_verify_input.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.common.signing import Keyring, load_keyring
from tests.unit.test_bundle import SID, SIZES, checkpoints_for, make_entries


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return load_keyring({"COURTROOM_DATA_DIR": str(tmp_path / "keys")})


@pytest.fixture
def bundle(ring: Keyring) -> dict[str, Any]:
    """A completed session's bundle: 20 entries, checkpoints at SIZES, format 1."""
    entries = make_entries()
    return {
        "format": "courtroom-bundle/1",
        "session_id": SID,
        "status": "completed",
        "entries": entries,
        "checkpoints": checkpoints_for(entries, SIZES, ring),
        "keys": [k.as_dict() for k in ring.keys],
    }
