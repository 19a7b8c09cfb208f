"""Accounts: the users table behind sign-in and roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from protocol.errors import Conflict
from store._db_errors import mapped as _mapped
from store._schema import users
from store._sessions import SessionStore, ms_to_iso, now_ms


class UserStore:
    """Reads and writes users through the session store's engines."""

    def __init__(self, sessions: SessionStore) -> None:
        self._s = sessions

    async def create(
        self, username: str, password_hash: str, role: str, display_name: str = ""
    ) -> dict[str, Any]:
        try:
            async with _mapped(), self._s.write_engine.begin() as c:
                result = await c.execute(
                    insert(users).values(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        display_name=display_name or username,
                        created_at=ms_to_iso(now_ms()),
                    )
                )
                uid = result.inserted_primary_key[0] if result.inserted_primary_key else None
        except Conflict:
            raise Conflict(f"user {username!r} exists") from None
        except IntegrityError:  # pragma: no cover - mapped above
            raise Conflict(f"user {username!r} exists") from None
        user = await self.by_id(int(uid)) if uid is not None else await self.by_username(username)
        assert user is not None
        return user

    async def set_password(self, username: str, password_hash: str) -> bool:
        from sqlalchemy import update

        async with _mapped(), self._s.write_engine.begin() as c:
            result = await c.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=password_hash)
            )
            return bool(result.rowcount)

    async def by_username(self, username: str) -> dict[str, Any] | None:
        async with _mapped(), self._s.read_engine.connect() as c:
            row = (
                (await c.execute(select(users).where(users.c.username == username)))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    async def by_id(self, user_id: int) -> dict[str, Any] | None:
        async with _mapped(), self._s.read_engine.connect() as c:
            row = (await c.execute(select(users).where(users.c.id == user_id))).mappings().first()
        return None if row is None else dict(row)

    async def list(self) -> list[dict[str, Any]]:
        async with _mapped(), self._s.read_engine.connect() as c:
            rows = await c.execute(select(users).order_by(users.c.id))
            return [dict(r) for r in rows.mappings()]
