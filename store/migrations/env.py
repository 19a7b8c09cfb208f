"""Alembic environment: runs on the connection that ``store.migrate`` hands in."""

from __future__ import annotations

from alembic import context

import store._record_schema  # noqa: F401  (registers the record v2 tables)
import store._schedule_schema  # noqa: F401  (registers the scheduling tables)
from store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through store.migrate
    raise RuntimeError("run migrations with `courtroom migrate`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
