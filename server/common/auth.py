"""Passwords (argon2) and bearer tokens (JWT, HS256, with expiry)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol.errors import Unauthorized
from server.rules.state import ACCOUNT_ROLES, Actor

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so a wrong username
# costs the same time as a wrong password.
DUMMY_HASH = _hasher.hash("not a password")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str
    name: str

    def actor(self) -> Actor:
        return Actor(user_id=str(self.user_id), account_role=self.role, name=self.name)


class TokenSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must be at least 32 characters")
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, user: dict[str, Any], *, now: float | None = None) -> tuple[str, int]:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": str(user["id"]),
            "username": user["username"],
            "role": user["role"],
            "name": user.get("display_name") or user["username"],
            "iat": issued,
            "exp": issued + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), self._ttl

    def verify(self, token: str) -> Principal:
        """Raises:
        Unauthorized: bad signature, malformed, expired, or an unknown role.
        """
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid token") from None
        role = claims.get("role")
        if role not in ACCOUNT_ROLES:
            raise Unauthorized("invalid token")
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise Unauthorized("invalid token") from None
        return Principal(
            user_id=user_id,
            username=str(claims.get("username", "")),
            role=role,
            name=str(claims.get("name", "")),
        )
