"""The asyncio courtroom client: one session stream over a reconnecting WebSocket.

Theory of operation: one background task owns the socket. It connects, sends
``hello`` (with ``resume_from`` = the last delivered sequence number), reads
the ``welcome``, then reads frames until the connection ends. Events and ticks
go through :class:`~clients._stream.StreamState`, which drops duplicates and
spots gaps, into a queue that ``async for`` drains; replies, errors and pongs
resolve the futures of the calls that are waiting for them. When the
connection ends with a code that says "reconnect" (or with no close frame),
the task waits an exponential, jittered back-off and starts over; on a gap it
hangs up and resumes at once. A terminal close ends the iteration with
:class:`ConnectionClosedError`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from clients._backoff import Backoff
from clients._errors import ConnectionClosedError
from clients._link import ConnectionTask, Ended
from clients._messages import (
    Event,
    Pong,
    Reply,
    ServerError,
    Tick,
    Welcome,
)
from clients._status import (
    ConnectionStatus,
    close_of,
)
from clients._stream import StreamState
from clients._urls import ws_url
from protocol import CloseCode

__all__ = ["CourtroomClient"]


class CourtroomClient(ConnectionTask):
    """A client of one session's live stream: typed events, commands, reconnects.

    Use it as an async context manager and iterate it::

        async with CourtroomClient("http://127.0.0.1:8000", session_id) as client:
            async for msg in client:          # Event or Tick, in order, exactly once
                ...
            # or, as a judge: await client.command("session.pause")

    Every entry from ``resume_from + 1`` on is delivered exactly once and in
    order across reconnects, and verified against chain v1 as it arrives
    (:attr:`verified`). Iteration ends with :class:`ConnectionClosedError` on a
    terminal close, or normally after :meth:`close`.

    Args:
        url_base: the server, ``http(s)://host:port`` or ``ws(s)://host:port``.
        session_id: the session to follow.
        token: a bearer token (from ``POST /api/auth/login``); None for an
            anonymous observer.
        as_: ``observer`` or ``participant``.
        role: a participant's role (``petitioner``, ``respondent``, ``judge``, ``moderator``).
        speaker: a petitioner's or respondent's speaker number (1-4).
        resume_from: deliver entries after this sequence number: 0 (the
            default) replays the whole log and verifies it from genesis;
            None starts live at the head of the first welcome.
        anchor_hash: the hash of entry ``resume_from``, if the caller has it,
            so that the first resumed entry's link is checked too.
        backoff: the reconnect delays (0.2 s doubling to 5 s, jittered, by default).
        clock: a monotonic clock in seconds; round trips and the clock offset use it.
        max_reconnects: give up after this many failed attempts in a row (None: never).
        retry_first: retry the very first connection like a reconnect
            instead of raising at once (useful while a server is starting).
        open_timeout: seconds for the handshake plus the welcome.
        queue_size: events and ticks buffered for the iterator. When the
            consumer falls this far behind, the client hangs up and resumes
            once it has caught up to half, so memory stays bounded and nothing
            is lost.
        subscribe: False to deliver nothing to the iterator (a client that
            only sends commands); entries are still tracked and verified.
        on_status: called with each :class:`ConnectionStatus` change.
    """

    def __init__(
        self,
        url_base: str,
        session_id: str,
        *,
        token: str | None = None,
        as_: Literal["observer", "participant"] = "observer",
        role: str | None = None,
        speaker: int | None = None,
        resume_from: int | None = 0,
        anchor_hash: str | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_reconnects: int | None = None,
        retry_first: bool = False,
        open_timeout: float = 10.0,
        queue_size: int = 10_000,
        subscribe: bool = True,
        on_status: Callable[[ConnectionStatus], None] | None = None,
    ) -> None:
        if as_ == "participant" and role is None:
            raise ValueError("a participant needs a role")
        if queue_size < 2:
            raise ValueError("queue_size must be at least 2")
        self.url = ws_url(url_base, session_id)
        self.session_id = session_id
        self.token = token
        self.as_ = as_
        self.role = role
        self.speaker = speaker
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.retry_first = retry_first
        self.open_timeout = open_timeout
        self.subscribe = subscribe
        self.on_status = on_status
        self._clock = clock
        self._state = StreamState(session_id, resume_from, anchor_hash)
        self._queue_size = queue_size
        self._queue: asyncio.Queue[Event | Tick | Ended] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._drained.set()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply | Pong]] = {}
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._leaving = False
        self._error: BaseException | None = None
        self._ended = False
        self.reconnects = 0
        self.last_error: ServerError | None = None

    # -- state ---------------------------------------------------------------

    @property
    def last_sequence(self) -> int | None:
        """The last delivered sequence number (None for a live-only client before its welcome)."""
        return self._state.last_sequence

    @property
    def head_hash(self) -> str | None:
        """The hash of the last delivered entry that verified."""
        return None if self._state.chain is None else self._state.chain.head_hash

    @property
    def verified(self) -> bool:
        """True while every delivered entry chains correctly (chain v1) from the start."""
        return self._state.verified

    @property
    def first_bad_sequence(self) -> int | None:
        """The first delivered entry that did not verify, or None."""
        return self._state.first_bad_sequence

    @property
    def welcome(self) -> Welcome | None:
        """The latest welcome: the session snapshot at the time of the last (re)connect."""
        return self._state.welcome

    @property
    def clock_offset_ms(self) -> float | None:
        """Estimated ``server_time_ms - clock() * 1000``; None before the first sample."""
        return self._state.clock.offset_ms

    def server_time_ms(self) -> float | None:
        """The server's clock now, estimated from :attr:`clock_offset_ms`."""
        offset = self._state.clock.offset_ms
        return None if offset is None else self._now_ms() + offset

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def duplicates_dropped(self) -> int:
        return self._state.duplicates

    @property
    def gaps_seen(self) -> int:
        return self._state.gaps

    # -- lifecycle -----------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection and wait for the first welcome.

        Raises:
            ConnectionClosedError: the server refused the connection (terminal
                close code), or it could not be reached and ``retry_first`` is off.
            ResyncError: the server is behind ``resume_from``.
            RuntimeError: called twice.
        """
        if self._task is not None:
            raise RuntimeError("this client is already connected; create a new one")
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"courtroom-client-{self.session_id}")
        await asyncio.shield(self._first)

    async def close(self) -> None:
        """Close the connection for good; iteration then ends normally. Idempotent."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close(CloseCode.NORMAL, "client closing")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._finish(None)

    async def __aenter__(self) -> CourtroomClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- iteration -----------------------------------------------------------

    def __aiter__(self) -> CourtroomClient:
        return self

    async def __anext__(self) -> Event | Tick:
        """The next event or tick.

        Raises:
            StopAsyncIteration: after :meth:`close`.
            ConnectionClosedError: the server closed with a terminal code, or
                reconnecting gave up.
            ResyncError: the server lost entries this client delivered.
        """
        item = await self._queue.get()
        if isinstance(item, Ended):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        if self._queue.qsize() <= self._queue_size // 2:
            self._drained.set()
        return item

    # -- commands ------------------------------------------------------------

    async def command(
        self, type_: str, /, *, timeout: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        """Send a command and wait for its reply.

        Args:
            type_: the message type, e.g. ``"session.pause"`` or ``"log"``.
            timeout: seconds to wait for a connection and then for the answer.
            **fields: the message's fields, e.g. ``event_type="NOTE", details={...}``.

        Returns:
            The reply's ``result``: for state changes ``{"sequence_number": head,
            "entries": [new sequence numbers]}``.

        Raises:
            CommandError: the server refused it (nothing was written).
            ConnectionClosedError: the connection ended before the answer; the
                command may or may not have been carried out (it is not retried,
                since commands are not idempotent: check the log).
            TimeoutError: no connection or no answer within ``timeout``.
            ValueError: ``type_`` is ``hello`` or ``ping`` (the client sends
                those itself: see :meth:`ping`).
        """
        if type_ in ("hello", "ping"):
            raise ValueError(f"{type_} is not a command; the client sends it itself")
        # After a successful leave the server closes with 1000: that ends the
        # stream normally instead of as a terminal close.
        leaving = type_ == "leave"
        self._leaving = self._leaving or leaving
        try:
            reply = await self._request({"type": type_, **fields}, timeout)
        except BaseException:
            if leaving:
                self._leaving = False
            raise
        assert isinstance(reply, Reply)
        result = reply.result
        return result if isinstance(result, dict) else {"result": result}

    async def leave(self, timeout: float = 10.0) -> None:
        """Say ``leave`` (logged as a departure), then close; iteration ends normally.

        Raises:
            CommandError: the server refused it.
            TimeoutError: no connection or no answer within ``timeout``.
        """
        await self.command("leave", timeout=timeout)
        await self.close()

    async def ping(self, timeout: float = 10.0) -> float:
        """Round trip to the server; also refines :attr:`clock_offset_ms`.

        Returns:
            The round-trip time in seconds.

        Raises:
            ConnectionClosedError: the connection ended before the pong.
            TimeoutError: no connection or no pong within ``timeout``.
        """
        sent = self._clock()
        pong = await self._request({"type": "ping"}, timeout)
        received = self._clock()
        if isinstance(pong, Pong) and pong.server_time_ms is not None:
            self._state.clock.observe_round_trip(pong.server_time_ms, sent * 1000, received * 1000)
        return received - sent

    async def _request(self, message: dict[str, Any], timeout: float) -> Reply | Pong:
        async with asyncio.timeout(timeout):
            ws = await self._wait_connected()
            ref = next(self._ids)
            future: asyncio.Future[Reply | Pong] = asyncio.get_running_loop().create_future()
            self._pending[ref] = future
            try:
                await ws.send(orjson.dumps({**message, "id": ref}).decode())
                return await future
            except ConnectionClosed as exc:
                code, reason = close_of(exc)
                raise ConnectionClosedError(code, reason) from None
            finally:
                self._pending.pop(ref, None)

    async def _wait_connected(self) -> ClientConnection:
        while True:
            if self._error is not None:
                raise self._error
            if self._closing:
                raise ConnectionClosedError(CloseCode.NORMAL, "the client is closed")
            if self._task is None:
                raise RuntimeError("connect() first")
            ws = self._ws
            if self._connected.is_set() and ws is not None:
                return ws
            # Wake on a (re)connect or on the end of the task, whichever is first.
            waiter = asyncio.ensure_future(self._connected.wait())
            await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
