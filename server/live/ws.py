"""The WebSocket endpoint ``/ws/sessions/{session_id}`` (PROTOCOL.md section 2).

The only module that touches ``WebSocket``. One connection's life:

    accept → hello (10 s) → auth → join/observe (logged) → attach to the hub
    → welcome → replay after ``resume_from`` → backlog → live
    → commands (decode → courtroom.execute → reply | error) … → leave/close

Bad frames after ``hello`` get an ``error`` and the connection stays; a frame
over the size limit closes with 1009; anything wrong before or in ``hello``
closes with its documented code. A refused command writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

import protocol as p
from protocol import CloseCode
from protocol.errors import (
    CourtroomError,
    FeatureDisabled,
    FrameTooLarge,
    ProtocolError,
    RateLimited,
    Unauthorized,
)
from server.common.errors import close_code_for
from server.live.frames import OutFrame
from server.live.membership import Connection, _background, _Membership
from server.live.metrics import METRICS
from server.live.services import Services
from server.live.sockio import _Bucket, refused_when_full
from server.rules import commands as c
from server.rules.state import Actor, Status

log = logging.getLogger("courtroom.ws")


def _now(services: Services) -> int:
    return services.courtroom.clock()


async def _read_frame(conn: Connection) -> str | None:
    """The next text frame, or None when the client went away."""
    msg = await conn.ws.receive()
    if msg["type"] == "websocket.disconnect":
        return None
    text = msg.get("text")
    if text is None:
        data = msg.get("bytes") or b""
        limit = conn.services.settings.max_frame_bytes
        if len(data) > limit:
            raise FrameTooLarge(f"frame of {len(data)} bytes is over the limit of {limit}")
        raise ProtocolError("frames are JSON text, not binary")
    return str(text)


def _to_command(msg: p.ClientMessage) -> c.SessionCommand:
    if isinstance(msg, p.SessionStart):
        return c.Start()
    if isinstance(msg, p.SessionPause):
        return c.Pause()
    if isinstance(msg, p.SessionResume):
        return c.Resume()
    if isinstance(msg, p.SessionComplete):
        return c.Complete()
    if isinstance(msg, p.LogEvent):
        return c.LogCustom(msg.event_type, msg.details)
    if isinstance(msg, p.RoundStart):
        return c.StartRound(msg.round_id)
    if isinstance(msg, p.RoundAbort):
        return c.AbortRound(msg.round_id, msg.reason)
    if isinstance(msg, p.TurnStart):
        return c.StartTurn(msg.turn_id)
    if isinstance(msg, p.TurnSubmit):
        return c.SubmitTurn(msg.turn_id, msg.transcript, msg.word_count)
    if isinstance(msg, p.TurnForceSubmit):
        return c.ForceSubmit(msg.turn_id, msg.transcript, msg.reason, msg.word_count)
    raise ProtocolError(f"{msg.TYPE} is not a command")


async def session_socket(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    session_id = ws.path_params["session_id"]
    if await refused_when_full(ws, services):
        return
    await ws.accept()
    METRICS.ws_connections.inc()
    conn = Connection(ws, services)
    services.connections.add(conn)
    try:
        await _serve(conn, session_id)
    finally:
        services.connections.discard(conn)
        METRICS.ws_connections.dec()


async def _serve(conn: Connection, session_id: str) -> None:
    s = conn.services
    try:
        hello = await _hello(conn)
        if hello is None:
            return
        principal = s.signer.verify(hello.token) if hello.token else None
        if hello.as_ == "participant" and principal is None:
            raise Unauthorized("participants need a token")
        if not s.settings.flags.moot_operations:
            raise FeatureDisabled("live sessions are disabled (FEATURE_MOOT_OPERATIONS)")
        # Only these two facts are kept: the whole state would live as long as the socket.
        status, anonymous_ok = await _admission_facts(s, session_id)
    except CourtroomError as exc:
        await conn.send_now(p.error_frame(None, exc.code, exc.message))
        await conn.close(close_code_for(exc), exc.message)
        return
    except TimeoutError:
        await conn.send_now(
            p.error_frame(None, p.ErrorCode.BAD_REQUEST, "no hello within the timeout")
        )
        await conn.close(CloseCode.POLICY, "no hello")
        return
    except WebSocketDisconnect:
        return

    actor = principal.actor() if principal else Actor(user_id=None)
    completed = status == Status.COMPLETED.value
    member = _Membership(conn, session_id, actor, hello, principal)
    try:
        if not completed:
            await member.enter(anonymous_ok)
    except CourtroomError as exc:
        await conn.send_now(p.error_frame(hello.id, exc.code, exc.message))
        await conn.close(
            CloseCode.FORBIDDEN if exc.http_status in (403, 409, 422) else close_code_for(exc),
            exc.message,
        )
        return
    try:
        ch = await s.hub.attach(conn, session_id)
        try:
            if not await _welcome_and_replay(conn, ch, hello, member):
                return
            await _command_loop(conn, session_id, actor, member)
        finally:
            await s.hub.detach(conn, session_id)
    except WebSocketDisconnect:
        pass
    except CourtroomError as exc:
        await conn.close(close_code_for(exc), exc.message)
    except Exception:
        log.exception("connection to %s failed", session_id)
        await conn.close(CloseCode.INTERNAL, "internal error")
    finally:
        conn.outbound.cancel()
        # The departure is part of the record: log it even if this handler is
        # being cancelled (server shutdown, an ASGI server that cancels on close).
        departure = asyncio.create_task(member.exit())
        _background.add(departure)
        departure.add_done_callback(_background.discard)
        await asyncio.shield(departure)


async def drain_departures() -> None:
    """Wait for departures still being logged (called before the store closes)."""
    if _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


async def _admission_facts(s: Services, session_id: str) -> tuple[str, bool]:
    """The session's status and whether it admits anonymous observers.

    From this node's mirror of the session when it has one (a crowd arriving
    reads nothing from the database), else from the store (404 if unknown), in
    one read shared by the arrivals that come while it runs.
    """
    ch = s.hub.channel(session_id)
    if ch is not None and ch.state is not None:
        return ch.state.status.value, ch.state.allow_anonymous_observers
    state = await s.hub.stored_state(session_id)
    return str(state["status"]), bool(state.get("allow_anonymous_observers", True))


async def _hello(conn: Connection) -> p.Hello | None:
    # A deadline on this task, not ``wait_for``: that wraps the read in a task of
    # its own, one more task for every arrival of a join storm.
    async with asyncio.timeout(conn.services.settings.hello_timeout_seconds):
        text = await _read_frame(conn)
    if text is None:
        return None
    msg = p.decode(text, max_bytes=conn.services.settings.max_frame_bytes)
    if not isinstance(msg, p.Hello):
        raise ProtocolError("the first message must be hello")
    return msg


async def _welcome_and_replay(
    conn: Connection, ch: Any, hello: p.Hello, member: _Membership
) -> bool:
    """Welcome, the missed entries, the backlog, then go live. False if it closed instead."""
    s = conn.services
    # No await between attach and here: the snapshot is exactly at ``head``.
    snapshot = s.hub.snapshot(ch)
    head = ch.head
    member.announce()
    resume = hello.resume_from
    recovered = None if resume is None else resume <= head.sequence_number
    you = {
        "as": hello.as_,
        "user_id": member.actor.user_id,
        "role": hello.role,
        "observation_id": member.observation_id,
    }
    await conn.send_now(
        p.welcome_frame(
            session=snapshot,
            head_sequence=head.sequence_number,
            head_hash=head.hash,
            recovered=recovered,
            server_time_ms=_now(s),
            you=you,
        )
    )
    last = head.sequence_number
    if resume is not None and resume < head.sequence_number:
        nxt = resume + 1
        async for e in s.store.stream_entries(ch.session_id, nxt):
            if e.sequence_number > head.sequence_number:
                break
            await conn.send_now(e.frame())
        if conn.closed:
            return False
    if conn.slow:
        await conn.close(CloseCode.TOO_SLOW, "too slow: resume from the log")
        return False
    for seq, frame in conn.backlog:
        if seq > last:
            conn.outbound.push(frame)
            last = seq
    conn.backlog.clear()
    conn.syncing = False
    tick = s.hub.tick_for(ch, _now(s))
    if tick is not None:
        conn.outbound.push_tick(tick)
    return True


async def _command_loop(
    conn: Connection, session_id: str, actor: Actor, member: _Membership
) -> None:
    s = conn.services
    bucket = _Bucket(s.settings.ws_rate, s.settings.ws_burst)
    limit = s.settings.max_frame_bytes
    while not conn.closed:
        ref: int | None = None
        try:
            text = await _read_frame(conn)
            if text is None:
                return
            if not bucket.take():
                raise RateLimited("slow down: too many messages")
            ref = p.peek_id(text) if len(text) <= limit else None
            msg = p.decode(text, max_bytes=limit)
            ref = getattr(msg, "id", None)
            if isinstance(msg, p.Ping):
                conn.outbound.push(OutFrame(p.pong_frame(msg.id, server_time_ms=_now(s))))
                continue
            if isinstance(msg, p.Hello):
                raise ProtocolError("hello was already received")
            if isinstance(msg, p.Leave):
                await member.leave()
                conn.outbound.push(
                    OutFrame(p.reply_frame(msg.id, {"left": True}, server_time_ms=_now(s)))
                )
                await asyncio.sleep(0)
                await _drain_then_close(conn)
                return
            committed = await s.courtroom.execute(session_id, _to_command(msg), actor)
            result = {
                "sequence_number": committed.head.sequence_number,
                "entries": [e.sequence_number for e in committed.entries],
            }
            conn.outbound.push(OutFrame(p.reply_frame(msg.id, result, server_time_ms=_now(s))))
        except FrameTooLarge as exc:
            await conn.send_now(p.error_frame(ref, exc.code, exc.message))
            await conn.close(CloseCode.TOO_LARGE, "frame too large")
            return
        except CourtroomError as exc:
            conn.outbound.push(
                OutFrame(p.error_frame(ref, exc.code, exc.message, temporary=exc.temporary))
            )


async def _drain_then_close(conn: Connection) -> None:
    for _ in range(100):
        if len(conn.outbound) == 0:
            break
        await asyncio.sleep(0.005)
    await conn.close(CloseCode.NORMAL, "left")
