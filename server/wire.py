"""The direct path: pre-built frames written straight to the socket.

Through ASGI every frame costs a task wake-up, four awaits (Starlette,
uvicorn) and a fresh WebSocket framing per connection; that was 2/3 of the
server's time per tick at 5,000 observers (docs/benchmarks.md). This uvicorn
WebSocket protocol, a subclass of the sans-I/O one it picks by default, adds
an ASGI scope extension, ``courtroom.wire``, through which the app writes a
complete, already framed message (``server/frames.py``) with one
``transport.write``. The app falls back to ``websocket.send`` when the
extension is absent (another ASGI server, the test client).

Writing a whole unfragmented data frame is safe beside the sans-I/O state
machine: its only sender-side state is open or closing and whether a
fragmented message is in progress, and uvicorn never fragments. Each write
checks the connection is open, the close frame not yet sent, and the
transport below its high-water mark; when it is not, the caller queues the
frame and waits (``write``) like any other send, so back-pressure and the
slow-consumer close (4001) are unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

EXTENSION = "courtroom.wire"


class Wire(Protocol):
    """What the extension offers a connection."""

    def try_write(self, frame: bytes) -> bool:
        """Write now if the socket is open and writable; False otherwise (nothing written)."""

    async def write(self, frame: bytes) -> bool:
        """Wait until writable, then write; False if the connection closed first."""


class CourtroomWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the ``courtroom.wire`` extension."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task was only created, not started: the scope can still grow.
        if self.response.status_code == 101:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[EXTENSION] = {"wire": self}

    def try_write(self, frame: bytes) -> bool:
        # A close frame from the peer makes uvicorn close the transport in the
        # same data_received call, so is_closing() also covers the peer's close.
        if (
            self.writable.is_set()
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and not self.transport.is_closing()
        ):
            self.transport.write(frame)
            return True
        return False

    async def write(self, frame: bytes) -> bool:
        # connection_lost() sets ``writable`` too, so this never waits on a dead socket.
        await self.writable.wait()
        return self.try_write(frame)

    def send_receive_event_to_app(self) -> None:
        # uvicorn logs a text message that is not UTF-8 with a traceback at ERROR
        # level: any client could fill the log with them. It is the client's
        # fault, so close with 1007 as uvicorn does, and note it in one line.
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.logger.info("closing a WebSocket with 1007: the client sent invalid UTF-8")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


def wire_of(scope: Any) -> Wire | None:
    """The connection's direct path, if the server offers it."""
    ext = scope.get("extensions") or {}
    entry = ext.get(EXTENSION)
    return entry["wire"] if entry else None
