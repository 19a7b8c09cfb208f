"""A session socket's connection and its membership of the session: join or observe, presence, leaving (server/live/ws.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from starlette.websockets import WebSocket, WebSocketState

import protocol as p
from protocol import CloseCode
from protocol.errors import (
    CourtroomError,
    PermissionDenied,
)
from server.common.auth import Principal
from server.common.errors import close_code_for
from server.live.frames import OutFrame
from server.live.metrics import METRICS
from server.live.outbound import Outbound
from server.live.services import Services
from server.live.sockio import send_frame
from server.live.wire import wire_of
from server.rules import commands as c
from server.rules.state import Actor

log = logging.getLogger("courtroom.ws")
_background: set[asyncio.Task[None]] = set()  # strong refs to tasks in flight


class Connection:
    """One client socket; implements the hub's ``Subscriber``."""

    # Slotted: thousands of idle observers each hold one (bench/bench_idle_memory.py).
    __slots__ = (
        "ws",
        "services",
        "syncing",
        "backlog",
        "is_observer",
        "slow",
        "closed",
        "wire",
        "outbound",
        "__weakref__",
    )

    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.syncing = True
        self.backlog: list[tuple[int, OutFrame]] = []
        self.is_observer = True
        self.slow = False
        self.closed = False
        # The direct path when the server offers it (server/live/wire.py), else ASGI.
        self.wire = wire_of(ws.scope)
        self.outbound = Outbound(
            self._send,
            self.too_slow,
            services.settings.outbound_queue_frames,
            direct=self.wire.try_write if self.wire is not None else None,
        )

    async def _send(self, frame: OutFrame) -> None:
        if not self.closed and not await send_frame(self.ws, self.wire, frame):
            self.closed = True

    def too_slow(self) -> None:
        """The client fell behind (its backlog or outbound queue overflowed)."""
        if self.slow:
            return
        self.slow = True
        if self.syncing:
            return  # the replay notices and closes with 4001 itself
        # The writer may be stuck in a send to a socket that is not read; stop it
        # and close: the close frame follows whatever the transport still holds.
        self.outbound.cancel()
        task = asyncio.get_running_loop().create_task(
            self.close(CloseCode.TOO_SLOW, "too slow: resume from the log")
        )
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def send_now(self, frame: bytes) -> None:
        await self._send(OutFrame(frame))

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        METRICS.ws_closed.labels(str(int(code))).inc()
        with contextlib.suppress(Exception):
            if self.ws.application_state != WebSocketState.DISCONNECTED:
                await self.ws.close(code=int(code), reason=reason[:120])


class _Membership:
    """The join/observe this connection logged, and its undoing on close."""

    __slots__ = (
        "conn",
        "session_id",
        "actor",
        "hello",
        "principal",
        "connection_id",
        "observation_id",
        "kind",
        "registered",
        "left",
    )

    def __init__(
        self,
        conn: Connection,
        session_id: str,
        actor: Actor,
        hello: p.Hello,
        principal: Principal | None,
    ) -> None:
        self.conn = conn
        self.session_id = session_id
        self.actor = actor
        self.hello = hello
        self.principal = principal
        self.connection_id = str(uuid.uuid4())
        self.observation_id: str | None = None
        self.kind = "participant" if hello.as_ == "participant" else "observer"
        self.registered = False
        self.left = False
        conn.is_observer = self.kind == "observer"

    async def enter(self, anonymous_ok: bool) -> None:
        """Register the socket (presence across nodes), then log the arrival.

        A participant's join is a command that may be refused, so it is
        committed before the welcome. An observer's arrival is not waited for:
        its presence row and its ``OBSERVER_JOINED`` share the writer's next
        batches, so a crowd is admitted at the speed of the sockets.
        """
        s = self.conn.services
        if self.kind == "observer":
            if self.actor.user_id is None and not anonymous_ok:
                raise PermissionDenied("this session does not admit anonymous observers")
            self.observation_id = str(uuid.uuid4())
            await s.presence.connected(
                self.connection_id,
                self.session_id,
                kind=self.kind,
                user_id=self.actor.user_id,
                observation_id=self.observation_id,
                wait=False,
            )
            self.registered = True
            return  # the arrival is logged by ``announce``, once the welcome is fixed
        await s.presence.connected(
            self.connection_id,
            self.session_id,
            kind=self.kind,
            user_id=self.actor.user_id,
            observation_id=None,
        )
        self.registered = True
        try:
            assert self.hello.role is not None
            cmd = c.Join(role=self.hello.role, speaker=self.hello.speaker)
            await s.courtroom.execute(self.session_id, cmd, self.actor)
        except BaseException:
            await self._unregister(log_departure=False)
            raise

    def announce(self) -> None:
        """Queue an observer's arrival for the log (after the welcome's snapshot is taken).

        So the observer's own ``OBSERVER_JOINED`` always reaches it as a live
        event after ``welcome``, never inside the snapshot.
        """
        if self.kind != "observer" or not self.registered or self.observation_id is None:
            return
        s = self.conn.services
        arrival = s.observers.join_nowait(self.session_id, self.observation_id, self.actor.user_id)
        arrival.add_done_callback(self._arrival_logged)

    def _arrival_logged(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled() or (exc := fut.exception()) is None:
            return
        # The session changed between the admission check and the commit (it
        # completed, or stopped admitting anonymous observers): the arrival is
        # not on the record, so neither may the watching go on.
        log.info("observer arrival in %s not logged: %s", self.session_id, exc)
        self.left = True  # nothing to log on the way out
        code = close_code_for(exc) if isinstance(exc, CourtroomError) else CloseCode.INTERNAL
        task = asyncio.get_running_loop().create_task(self.conn.close(code, "not admitted"))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def leave(self) -> None:
        """The client said ``leave``: log it now; nothing more to do on close."""
        s = self.conn.services
        if self.kind == "participant":
            await s.courtroom.execute(self.session_id, c.Leave(), self.actor)
        elif self.observation_id is not None:
            await s.observers.leave(self.session_id, self.observation_id)
        self.left = True
        await self._unregister(log_departure=False)

    async def _unregister(self, *, log_departure: bool) -> None:
        if not self.registered:
            return
        self.registered = False
        await self.conn.services.presence.disconnected(
            self.connection_id,
            self.session_id,
            kind=self.kind,
            user_id=self.actor.user_id,
            observation_id=self.observation_id,
            log_departure=log_departure,
        )

    async def exit(self) -> None:
        try:
            await self._unregister(log_departure=not self.left)
        except CourtroomError as exc:
            log.info("could not log the departure from %s: %s", self.session_id, exc)
