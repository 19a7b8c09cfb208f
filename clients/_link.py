"""The connection task of :class:`~clients._connection.CourtroomClient`: connect, hello, read, reconnect.

One background task owns the socket (see ``clients/_connection.py`` for the
theory of operation). This base class is that task and the bookkeeping it
shares with the public API: the queue the iterator drains, the futures of
waiting commands, the connection status. ``CourtroomClient`` sets every
attribute declared here in its ``__init__``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
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
from protocol import PROTOCOL_VERSION, CloseCode
from protocol.errors import ProtocolError

log = logging.getLogger("courtroom.client")

# Server frames carry what clients sent (at most 64 KiB each by default) plus
# a session snapshot in the welcome: generous, yet a bound against a rogue server.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# Internal outcomes (never close codes on the wire): hang up and resume at once
# after a gap; or after the consumer drains the queue it let fill up.
_RESYNC = -1
_DRAIN = -2


@dataclass(frozen=True, slots=True)
class Ended:
    """Queue sentinel: the stream is over (``error`` None: closed by the user)."""

    error: BaseException | None


@dataclass(slots=True)
class _Outcome:
    code: int
    reason: str
    connected: bool


class ConnectionTask:
    """The socket's owner task; the public API is :class:`CourtroomClient`."""

    url: str
    session_id: str
    token: str | None
    as_: Literal["observer", "participant"]
    role: str | None
    speaker: int | None
    backoff: Backoff
    max_reconnects: int | None
    retry_first: bool
    open_timeout: float
    subscribe: bool
    on_status: Callable[[ConnectionStatus], None] | None
    reconnects: int
    last_error: ServerError | None
    _clock: Callable[[], float]
    _state: StreamState
    _queue_size: int
    _queue: asyncio.Queue[Event | Tick | Ended]
    _drained: asyncio.Event
    _pending: dict[int, asyncio.Future[Reply | Pong]]
    _ws: ClientConnection | None
    _connected: asyncio.Event
    _first: asyncio.Future[None] | None
    _task: asyncio.Task[None] | None
    _closing: bool
    _leaving: bool
    _error: BaseException | None
    _ended: bool

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

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
        self._queue.put_nowait(Ended(error))
