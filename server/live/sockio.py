"""What both socket endpoints share: the send path, the command rate bucket, the connection cap."""

from __future__ import annotations

import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import CloseCode
from server.live.frames import OutFrame
from server.live.metrics import METRICS
from server.live.services import Services
from server.live.wire import Wire


class _Bucket:
    """Token bucket: a client may send ``rate`` messages a second, bursts up to ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float = 20.0, burst: float = 60.0) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def send_frame(ws: WebSocket, wire: Wire | None, frame: OutFrame) -> bool:
    """Send one frame by the direct path when the server offers it, else through ASGI.

    Returns False once the socket is gone (the caller stops sending to it).
    """
    try:
        if wire is None:
            await ws.send_text(frame.text)
            return True
        return await wire.write(frame.wire)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return False


async def refused_when_full(ws: WebSocket, services: Services) -> bool:
    """True if the process is full and ``ws`` was refused (session and board sockets alike).

    Full (COURTROOM_MAX_CONNECTIONS): accept only to say so with 1013, which
    clients treat as "try again later" (with back-off), and hold nothing.
    """
    cap = services.settings.max_connections
    if not cap or len(services.connections) < cap:
        return False
    await ws.accept()
    METRICS.ws_closed.labels(str(int(CloseCode.OVERLOADED))).inc()
    await ws.close(code=int(CloseCode.OVERLOADED), reason="server full: try again later")
    return True
