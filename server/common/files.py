"""Files a process creates on first start (the token secret, the signing keys)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_once(path: Path, text: str) -> str:
    """Create ``path`` (mode 0600) holding ``text``, unless it exists: the text it holds.

    Two processes starting at once on one data directory must end up with one
    key, not one each: the text goes whole into a temporary file, which is then
    linked to ``path``; a link fails if ``path`` exists, so the loser reads the
    winner's complete file instead (never an empty or half-written one).
    """
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text()
        return text
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
