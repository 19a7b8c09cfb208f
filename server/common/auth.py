"""Passwords (argon2) and bearer tokens (JWT, HS256, with expiry)."""

from __future__ import annotations

import base64
import hashlib
import hmac
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

    def leave_token(self, session_id: str, observation_id: str) -> str:
        """What proves an observation begun over HTTP is the caller's to end.

        Its id is no secret (``OBSERVER_JOINED`` lists it for every observer),
        so leaving by the id alone let anyone end anyone's observation. The
        token is a MAC of the id under the deployment's key: any node checks it,
        nothing is stored, and only ``/observe``'s caller was given it.
        """
        msg = f"leave\0{session_id}\0{observation_id}".encode()
        mac = hmac.new(self._secret.encode(), msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()  # 144 bits, 24 characters

    def holds(self, session_id: str, observation_id: str, token: str) -> bool:
        return hmac.compare_digest(self.leave_token(session_id, observation_id), token)

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
