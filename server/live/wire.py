"""The direct path: pre-built frames written straight to the socket.

Through ASGI every frame costs a task wake-up, four awaits (Starlette,
uvicorn) and a fresh WebSocket framing per connection; that was 2/3 of the
server's time per tick at 5,000 observers (docs/benchmarks.md). This uvicorn
WebSocket protocol, a subclass of the sans-I/O one it picks by default, adds
an ASGI scope extension, ``courtroom.wire``, through which the app writes a
complete, already framed message (``server/live/frames.py``) with one
``transport.write``. The app falls back to ``websocket.send`` when the
extension is absent (another ASGI server, the test client).

Writing a whole unfragmented data frame is safe beside the sans-I/O state
machine: its only sender-side state is open or closing and whether a
fragmented message is in progress, and uvicorn never fragments. Each write
checks the connection is open, the close frame not yet sent, and the
transport below its high-water mark; when it is not, the caller queues the
frame and waits (``write``) like any other send, so back-pressure and the
slow-consumer close (4001) are unchanged.

The protocol is also trimmed for crowds of idle sockets (docs/benchmarks.md
section 7): uvicorn's incoming-message ``asyncio.Queue`` (three deques and an
event, about 3 kB) becomes an :class:`Inbox`, its ``writable`` event (a deque)
a :class:`Flag`, both allocating only while someone waits, and the handshake's
request and response, headers and all, are dropped once the socket is accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, Protocol, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

T = TypeVar("T")

EXTENSION = "courtroom.wire"


class Wire(Protocol):
    """What the extension offers a connection."""

    def try_write(self, frame: bytes) -> bool:
        """Write now if the socket is open and writable; False otherwise (nothing written)."""

    async def write(self, frame: bytes) -> bool:
        """Wait until writable, then write; False if the connection closed first."""


class Inbox(Generic[T]):
    """What uvicorn's protocol uses of ``asyncio.Queue`` (one reader), in a fraction of the memory.

    An idle socket's queue is empty with its one reader waiting: that is one
    future here, against three deques and an event in ``asyncio.Queue``.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            # A cancelled get (a timeout) leaves its future behind: put_nowait skips it.
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class Flag:
    """``asyncio.Event`` as uvicorn uses it, with no waiter list until someone waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)


class CourtroomWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the ``courtroom.wire`` extension."""

    # uvicorn sets some 37 attributes per connection: past 30 an instance dict stops
    # sharing its keys with the class and costs ~1.6 kB. Slots declared here take
    # these (the base class's ``self.x = ...`` lands in them), leaving the dict small.
    __slots__ = (
        "config",
        "app",
        "loop",
        "logger",
        "root_path",
        "asgi_version",
        "app_state",
        "connections",
        "tasks",
        "default_headers",
        "server",
        "client",
        "scheme",
        "handshake_initiated",
        "close_timeout",
        "ping_interval",
        "ping_timeout",
        "ping_sent_at",
        "last_ping_rtt",
        "curr_msg_data_type",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake is over: nothing reads its request or response again.
            # websockets' parser keeps the request in a local of its generator for
            # the life of the socket, so empty its headers in place too.
            self.request.headers.clear()
            del self.request, self.response

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
