"""Driver failures mapped once, at the store's boundary, to the protocol's error hierarchy.

Every store module wraps its engine use in ``mapped()``: a lost or refused
connection becomes ``Unavailable`` (503), a constraint ``Conflict``, anything
else ``StoreError``, so no SQLAlchemy exception leaves ``store/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from protocol.errors import Conflict, StoreError, Unavailable


@asynccontextmanager
async def mapped() -> AsyncIterator[None]:
    """Map driver failures once, at the boundary: down → Unavailable, else StoreError."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"conflicting write: {exc.orig}") from exc
    except (OperationalError, ConnectionError, OSError, TimeoutError) as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {exc}") from exc
        raise StoreError(f"database error: {exc}") from exc
