"""Log lines: plain text (default) or one JSON object a line, each with its request id.

``COURTROOM_LOG_FORMAT=json`` makes every line of the server (uvicorn's and the
courtroom's) a JSON object: ``ts``, ``level``, ``logger``, ``message``,
``request_id`` and, on an access line, ``method``, ``path``, ``status`` and
``client``. :class:`RequestIdMiddleware` gives each HTTP request and each
WebSocket connection an id (the client's ``X-Request-ID`` when it is a short
token, else a new one), returns it in the ``X-Request-ID`` response header and
puts it on every line logged while that request or connection is handled.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "RequestIdFilter",
    "RequestIdMiddleware",
    "log_config",
    "request_id_for",
]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request or connection being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access record: (client, method, path, http version, status)
            args = record.args
            if len(args) == 5:
                out["client"], out["method"], out["path"], _, out["status"] = args
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def log_config(fmt: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the courtroom loggers."""
    lvl = "DEBUG" if level == "trace" else level.upper()
    if fmt == "json":
        formatters: dict[str, Any] = {
            "default": {"()": JsonFormatter},
            "access": {"()": JsonFormatter},
            "app": {"()": JsonFormatter},
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s [%(request_id)s]',
            },
            "app": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(name)s: %(message)s [%(request_id)s]",
            },
        }
    handler = {"class": "logging.StreamHandler", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": formatters,
        "handlers": {
            "default": {**handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {**handler, "formatter": "access", "stream": "ext://sys.stdout"},
            "app": {**handler, "formatter": "app", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": ["access"], "level": lvl, "propagate": False},
            "courtroom": {"handlers": ["app"], "level": lvl, "propagate": False},
        },
    }


def request_id_for(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is a short token, else a new id."""
    given = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            break
    return given if _CLIENT_ID.match(given) else uuid.uuid4().hex[:16]


class RequestIdMiddleware:
    """Pure ASGI (no buffering, WebSockets pass through): one id per request or connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id_for(scope)
        token = REQUEST_ID.set(rid)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                REQUEST_ID.reset(token)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
