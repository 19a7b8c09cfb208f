"""URLs of a courtroom server, from the one base URL a user types."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["http_base", "ws_url"]

_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_TO_HTTP = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _split(url_base: str, table: dict[str, str]) -> tuple[str, str, str]:
    parts = urlsplit(url_base if "://" in url_base else f"http://{url_base}")
    scheme = table.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a server URL: {url_base!r} (expected http(s):// or ws(s)://)")
    return scheme, parts.netloc, parts.path.rstrip("/")


def ws_url(url_base: str, session_id: str) -> str:
    """The WebSocket URL of a session: ``ws(s)://host[/prefix]/ws/sessions/{id}``.

    Args:
        url_base: the server, as ``http(s)://`` or ``ws(s)://`` (a bare ``host:port`` means http).
        session_id: the session's id.

    Raises:
        ValueError: ``url_base`` is not an http or WebSocket URL.
    """
    scheme, netloc, prefix = _split(url_base, _TO_WS)
    return urlunsplit(
        (scheme, netloc, f"{prefix}/ws/sessions/{quote(session_id, safe='')}", "", "")
    )


def http_base(url_base: str) -> str:
    """The HTTP base URL (no trailing slash) of the server at ``url_base``.

    Raises:
        ValueError: ``url_base`` is not an http or WebSocket URL.
    """
    scheme, netloc, prefix = _split(url_base, _TO_HTTP)
    return urlunsplit((scheme, netloc, prefix, "", ""))
