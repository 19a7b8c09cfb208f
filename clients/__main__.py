"""``python -m clients``: the same tools as ``courtroom-client``."""

from __future__ import annotations

from clients.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
