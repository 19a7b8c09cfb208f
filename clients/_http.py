"""The few HTTP calls the tools need: login and the JSON Lines export.

Built on ``httpx2``'s ``AsyncClient``; every failure becomes :class:`HTTPError`
with the server's ``{"detail", "code"}`` body when there is one, so the
command-line tools print a reason instead of a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import httpx2
import orjson

from clients._errors import HTTPError
from clients._urls import http_base

__all__ = ["HttpApi"]


class HttpApi:
    """A thin async HTTP client for one server.

    Use as ``async with HttpApi(url) as api: token = await api.login(...)``.

    Args:
        url_base: the server, ``http(s)://host:port`` (``ws(s)://`` is accepted too).
        token: a bearer token for calls that need one; :meth:`login` sets it.
        timeout: seconds per request.
        transport: an ``httpx2`` transport (``MockTransport``, ``ASGITransport``) for tests.
    """

    def __init__(
        self,
        url_base: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = http_base(url_base)
        self.token = token
        self._http = httpx2.AsyncClient(base_url=self.base, timeout=timeout, transport=transport)

    async def __aenter__(self) -> HttpApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def login(self, username: str, password: str) -> str:
        """Sign in with a password; the token is kept for later calls.

        Returns:
            The bearer token.

        Raises:
            HTTPError: wrong credentials (401) or the server failed.
        """
        body = await self.request(
            "POST", "/api/auth/login", data={"username": username, "password": password}
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise HTTPError(200, "the login response has no access_token")
        self.token = token
        return token

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One JSON request with the bearer token.

        Returns:
            The decoded JSON body.

        Raises:
            HTTPError: a status of 400 or more, a body that is not JSON, or no response.
        """
        try:
            response = await self._http.request(method, path, headers=self._headers(), **kwargs)
        except httpx2.HTTPError as exc:
            raise HTTPError(None, f"{type(exc).__name__}: {exc}") from None
        _raise_for(response.status_code, response.content)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise HTTPError(response.status_code, "the response is not JSON") from None

    async def export(self, session_id: str, out: IO[bytes]) -> int:
        """Stream the session's JSON Lines export into ``out``.

        Returns:
            The number of lines (entries) written.

        Raises:
            HTTPError: not signed in, no such session, or the transfer failed.
        """
        lines = 0
        async with self._stream("GET", f"/api/session/{session_id}/export") as response:
            async for chunk in response.aiter_bytes():
                out.write(chunk)
                lines += chunk.count(b"\n")
        return lines

    async def bundle(self, session_id: str, out: IO[bytes]) -> int:
        """Stream the session's record bundle (one JSON file) into ``out``; returns bytes."""
        size = 0
        async with self._stream("GET", f"/api/session/{session_id}/bundle") as response:
            async for chunk in response.aiter_bytes():
                out.write(chunk)
                size += len(chunk)
        return size

    @asynccontextmanager
    async def _stream(self, method: str, path: str) -> AsyncIterator[httpx2.Response]:
        try:
            async with self._http.stream(method, path, headers=self._headers()) as response:
                if response.status_code >= 400:
                    _raise_for(response.status_code, await response.aread())
                yield response
        except httpx2.HTTPError as exc:
            raise HTTPError(None, f"{type(exc).__name__}: {exc}") from None


def _raise_for(status: int, content: bytes) -> None:
    if status < 400:
        return
    detail: Any = content[:300].decode(errors="replace")
    code = None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail", detail)
        code = body.get("code") if isinstance(body.get("code"), str) else None
    raise HTTPError(
        status, detail if isinstance(detail, str) else orjson.dumps(detail).decode(), code
    )
