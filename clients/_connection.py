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
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from clients._backoff import Backoff
from clients._errors import ClientError, CommandError, ConnectionClosedError
from clients._messages import (
    Event,
    Pong,
    Reply,
    ServerError,
    ServerMessage,
    Tick,
    Welcome,
    parse_frame,
)
from clients._status import (
    ABNORMAL_CLOSURE,
    ConnectionStatus,
    close_of,
    handshake_refusal,
)
from clients._stream import StreamState, Verdict, reconnect_after
from clients._urls import ws_url
from protocol import PROTOCOL_VERSION, CloseCode
from protocol.errors import ProtocolError

__all__ = ["CourtroomClient"]

log = logging.getLogger("courtroom.client")

# Server frames carry what clients sent (at most 64 KiB each by default) plus
# a session snapshot in the welcome: generous, yet a bound against a rogue server.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# Internal outcomes (never close codes on the wire): hang up and resume at once
# after a gap; or after the consumer drains the queue it let fill up.
_RESYNC = -1
_DRAIN = -2


@dataclass(frozen=True, slots=True)
class _Ended:
    """Queue sentinel: the stream is over (``error`` None: closed by the user)."""

    error: BaseException | None


@dataclass(slots=True)
class _Outcome:
    code: int
    reason: str
    connected: bool


class CourtroomClient:
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
        self._queue: asyncio.Queue[Event | Tick | _Ended] = asyncio.Queue()
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

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

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
        if isinstance(item, _Ended):
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

    # -- the connection task -------------------------------------------------

    def _status(self, status: ConnectionStatus) -> None:
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:  # a display callback must not kill the stream
                log.exception("on_status callback failed")

    async def _run(self) -> None:
        attempt = 0  # failed attempts in a row
        ever_connected = False
        resynced_at: int | None = None
        try:
            while True:
                self._status(ConnectionStatus("connecting", attempt))
                outcome = await self._connection()
                ever_connected = ever_connected or outcome.connected
                if outcome.connected:
                    attempt = 0
                self._connected.clear()
                self._ws = None
                self._fail_pending(outcome.code, outcome.reason)
                if self._closing or (self._leaving and outcome.code == CloseCode.NORMAL):
                    self._finish(None)
                    return
                if outcome.code in (_RESYNC, _DRAIN):
                    # Resume at once, unless the last resume made no progress:
                    # then back off like any failure instead of spinning.
                    stuck = resynced_at == self._state.last_sequence
                    resynced_at = self._state.last_sequence
                    delay = self.backoff.delay(1) if stuck else 0.0
                    if outcome.code == _DRAIN:
                        self._status(
                            ConnectionStatus("disconnected", attempt, None, outcome.reason)
                        )
                        await self._drained.wait()
                else:
                    attempt += 1
                    retry = reconnect_after(outcome.code) and (ever_connected or self.retry_first)
                    if not retry or (
                        self.max_reconnects is not None and attempt > self.max_reconnects
                    ):
                        raise ConnectionClosedError(outcome.code, outcome.reason)
                    delay = self.backoff.delay(attempt)
                    self._status(
                        ConnectionStatus(
                            "disconnected", attempt, outcome.code, outcome.reason, delay
                        )
                    )
                    log.info(
                        "connection to %s closed (%s %s); reconnecting in %.2f s",
                        self.url,
                        outcome.code,
                        outcome.reason,
                        delay,
                    )
                self.reconnects += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # terminal: end the iteration with it
            if not isinstance(exc, ClientError):
                log.exception("courtroom client task failed")
            self._finish(exc)
            if isinstance(exc, ConnectionClosedError):
                self._status(ConnectionStatus("closed", attempt, exc.code, exc.reason))

    async def _connection(self) -> _Outcome:
        """One connection from open to close; returns how it ended."""
        try:
            ws = await asyncio.wait_for(
                connect(
                    self.url,
                    open_timeout=None,  # the wait_for bounds handshake + hello + welcome
                    max_size=MAX_FRAME_BYTES,
                    close_timeout=2,
                ),
                self.open_timeout,
            )
        except InvalidStatus as exc:
            return _Outcome(*handshake_refusal(exc.response.status_code), connected=False)
        except InvalidURI as exc:
            return _Outcome(CloseCode.POLICY, str(exc), connected=False)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return _Outcome(ABNORMAL_CLOSURE, f"cannot connect: {exc}", connected=False)
        self._ws = ws
        connected = False
        try:
            welcome = await asyncio.wait_for(self._hello(ws), self.open_timeout)
            self._state.on_welcome(welcome, self._now_ms())
            connected = True
            self._connected.set()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            self._status(ConnectionStatus("connected", welcome=welcome))
            return await self._read(ws)
        except ConnectionClosed as exc:
            code, reason = close_of(exc)
            if not connected and self.last_error is not None and not reason:
                reason = self.last_error.message
            return _Outcome(code, reason, connected)
        except TimeoutError:
            await ws.close(CloseCode.POLICY, "no welcome")
            return _Outcome(ABNORMAL_CLOSURE, "no welcome within the timeout", connected)
        except OSError as exc:
            return _Outcome(ABNORMAL_CLOSURE, str(exc), connected)
        finally:
            await ws.close()  # a no-op when the peer closed already

    async def _hello(self, ws: ClientConnection) -> Welcome:
        hello: dict[str, Any] = {
            "type": "hello",
            "v": PROTOCOL_VERSION,
            "token": self.token,
            "as": self.as_,
        }
        if self.as_ == "participant":
            hello["role"] = self.role
            if self.speaker is not None:
                hello["speaker"] = self.speaker
        if self._state.resume_from is not None:
            hello["resume_from"] = self._state.resume_from
        await ws.send(orjson.dumps(hello).decode())
        while True:
            msg = self._parse(await ws.recv())
            if isinstance(msg, Welcome):
                return msg
            if isinstance(msg, ServerError):
                # The refusal that precedes a close: keep it for the close's reason.
                self.last_error = msg

    def _parse(self, frame: str | bytes) -> ServerMessage | None:
        try:
            return parse_frame(frame)
        except ProtocolError as exc:
            # A frame we cannot read is skipped; if it was an event, the next
            # event shows the gap and the resume fetches it again.
            log.warning("ignoring a bad frame from the server: %s", exc.message)
            return None

    async def _read(self, ws: ClientConnection) -> _Outcome:
        state = self._state
        while True:
            frame = await ws.recv()
            msg = self._parse(frame)
            if isinstance(msg, Event):
                if self.subscribe and self._queue.qsize() >= self._queue_size:
                    # The consumer fell behind: hang up rather than buffer without
                    # bound; _run resumes from last_sequence once it catches up.
                    self._drained.clear()
                    await ws.close(CloseCode.NORMAL, "client queue full")
                    return _Outcome(_DRAIN, "the consumer fell behind", connected=True)
                verdict = state.on_event(msg)
                if verdict is Verdict.DELIVER:
                    if self.subscribe:
                        self._queue.put_nowait(msg)
                elif verdict is Verdict.GAP:
                    log.info(
                        "gap: got #%d after #%s; resuming", msg.sequence_number, state.last_sequence
                    )
                    await ws.close(CloseCode.NORMAL, "gap: resuming")
                    return _Outcome(_RESYNC, "gap", connected=True)
            elif isinstance(msg, Tick):
                if state.on_tick(msg, self._now_ms()) and self.subscribe:
                    if self._queue.qsize() < self._queue_size:
                        self._queue.put_nowait(msg)  # ticks are ephemeral: drop when full
            elif isinstance(msg, Reply | Pong):
                if msg.server_time_ms is not None and isinstance(msg, Reply):
                    state.clock.observe(msg.server_time_ms, self._now_ms())
                self._resolve(msg.ref, msg)
            elif isinstance(msg, ServerError):
                self._refuse(msg)

    def _resolve(self, ref: int | None, msg: Reply | Pong) -> None:
        future = self._pending.get(ref) if ref is not None else None
        if future is not None and not future.done():
            future.set_result(msg)

    def _refuse(self, err: ServerError) -> None:
        future = self._pending.get(err.ref) if err.ref is not None else None
        if future is not None and not future.done():
            future.set_exception(
                CommandError(err.code, err.message, temporary=err.temporary, ref=err.ref)
            )
            return
        self.last_error = err
        log.warning("server error: %s: %s", err.code, err.message)

    def _fail_pending(self, code: int, reason: str) -> None:
        if code < 0:
            code = ABNORMAL_CLOSURE
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    ConnectionClosedError(code, f"connection lost before the answer ({reason})")
                )

    def _finish(self, error: BaseException | None) -> None:
        """End the stream once: wake the iterator, the connect() caller and waiting commands."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._connected.clear()
        self._fail_pending(ABNORMAL_CLOSURE, "the client stopped")
        self._drained.set()
        if self._first is not None and not self._first.done():
            self._first.set_exception(error or ConnectionClosedError(CloseCode.NORMAL, "closed"))
            self._first.exception()  # mark it retrieved: connect() may be gone already
        self._queue.put_nowait(_Ended(error))
