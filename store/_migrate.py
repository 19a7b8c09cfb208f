"""Alembic migrations, run in code (``courtroom migrate``, and at start-up by default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from store._engine import create_engine

_HERE = Path(__file__).parent


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (the migrations' tests)."""
    await _run(url, command.downgrade, revision)


async def _run(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync_conn: step(alembic_config(sync_conn), revision))
    finally:
        await engine.dispose()
