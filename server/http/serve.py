"""Running the app under uvicorn, with a shutdown that keeps the protocol's promise.

On SIGTERM uvicorn closes every WebSocket itself with 1012 *before* the app's
lifespan shutdown runs. PROTOCOL.md promises 1001 ("going away, reconnect with
resume_from"), so this server first closes the app's own connections with
1001 and only then lets uvicorn shut down.
"""

from __future__ import annotations

import logging
import resource
import socket
from typing import Any

import uvicorn

from protocol import CloseCode
from server.live.services import Services
from server.live.wire import CourtroomWebSocketProtocol

# The Services of every app running in this process (set by the lifespan).
RUNNING: list[Services] = []
log = logging.getLogger("courtroom.serve")


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; returns the limit in force.

    Every WebSocket is a file descriptor, and distributions often start
    processes with a soft limit of 1,024. At the limit, accept() fails with
    EMFILE: asyncio logs "socket.accept() out of system resource" and stops
    accepting for a second, and new clients wait in the listen backlog (their
    handshakes time out) until descriptors are free again; connections already
    open are not affected (docs/deployment.md).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # a container may forbid it
            log.warning("could not raise the open files limit from %d: %s", soft, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def close_all(code: int = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
    for services in list(RUNNING):
        for conn in list(services.connections):
            await conn.close(code, reason)


class CourtroomServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await close_all()
        await super().shutdown(sockets)


def run(
    app: str,
    *,
    host: str,
    port: int,
    ws_max_size: int,
    log_level: str,
    root_path: str = "",
    log_config: dict[str, Any] | None = None,
) -> None:
    limit = raise_open_files_limit()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvicorn's own sans-I/O protocol plus the direct path (server/live/wire.py).
        ws=CourtroomWebSocketProtocol,
        ws_max_size=ws_max_size,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        # Compression is per connection: it would undo "encode once, send the
        # same bytes to every observer" and cost CPU per socket on fan-out.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
        # Room for a crowd reconnecting at once (a node went away).
        backlog=4096,
        log_level=log_level,
        # Behind a proxy at a sub-path (`serve --root-path /court`): URLs the app
        # makes, the docs' openapi.json among them, carry the prefix.
        root_path=root_path,
        log_config=log_config if log_config is not None else uvicorn.config.LOGGING_CONFIG,
    )
    # After uvicorn.Config: it configures logging, and only then has the line a handler.
    log.info("open files limit %d: at most that many connections, less a few", limit)
    CourtroomServer(config).run()
