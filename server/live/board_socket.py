"""The tournament channel's socket endpoint and the news of new sessions (server/live/board.py holds the boards)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import CloseCode, ErrorCode
from protocol.errors import (
    CourtroomError,
    FeatureDisabled,
    PermissionDenied,
    ProtocolError,
    Unauthorized,
)
from server.common.auth import Principal
from server.common.errors import close_code_for
from server.live.board import (
    NEWS,
    ORGANISER_ROLES,
    Board,
    BoardConn,
    BoardRegistry,
)
from server.live.board_tiles import BoardHello, _decode_hello
from server.live.broker import Broker, create_broker
from server.live.frames import OutFrame
from server.live.metrics import METRICS
from server.live.services import Services
from server.live.sockio import refused_when_full
from store import LogEntry

log = logging.getLogger("courtroom.board")


async def start_news(services: Services) -> Broker:
    """The node's tournament news: the broker of the sessions' entries, on its own channels."""
    s = services.settings
    news = create_broker(s.redis_url, prefix=s.redis_prefix, channel=NEWS)
    services.extras["tournament_news"] = news
    await news.start(lambda topic, entries: registry_of(services).on_news(topic, entries))
    return news


async def announce_session(
    services: Services, tournament_id: int, entries: Sequence[LogEntry]
) -> None:
    """Tell every node's boards of ``tournament_id`` that a session was opened for a match.

    Called after the session's first entries committed. Losing the news loses
    nothing but time: the boards' timer re-reads the schedule.
    """
    news: Broker | None = services.extras.get("tournament_news")
    if news is not None:
        await news.publish(str(tournament_id), entries)


def registry_of(services: Services) -> BoardRegistry:
    reg = services.extras.get("boards")
    if reg is None:
        reg = services.extras["boards"] = BoardRegistry(services)
    assert isinstance(reg, BoardRegistry)
    return reg


def access_for(principal: Principal | None, tournament: Mapping[str, Any]) -> str:
    """ "organiser" or "public"; raises when the board is not for this reader."""
    if principal is not None and principal.role in ORGANISER_ROLES:
        return "organiser"
    if tournament.get("public_schedule"):
        return "public"
    if principal is None:
        raise Unauthorized("sign in to see this tournament's board")
    raise PermissionDenied("the live board is for organisers (admin, faculty)")


async def tournament_socket(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    raw = ws.path_params["tournament_id"]
    if await refused_when_full(ws, services):
        return
    await ws.accept()
    conn = BoardConn(ws, services.settings.outbound_queue_frames)
    # Counted with the session sockets: the cap, /metrics, and 1001 on shutdown.
    services.connections.add(conn)
    METRICS.ws_connections.inc()
    board: Board | None = None
    reg = registry_of(services)
    try:
        try:
            if not services.settings.flags.scheduling:
                raise FeatureDisabled("scheduling is disabled (FEATURE_SCHEDULING)")
            tid = int(raw) if str(raw).isdigit() else 0
            hello = await _board_hello(ws, services)
            if hello is None:
                return
            principal = services.signer.verify(hello.token) if hello.token else None
            tournament = await reg.schedule.get_tournament(tid)
            access = access_for(principal, tournament)
            day = date.fromisoformat(hello.date) if hello.date else _today(reg.clock())
            board = await reg.join(tid, day, access == "public")
        except CourtroomError as exc:
            await _refuse(conn, exc)
            return
        except TimeoutError:
            await _refuse(conn, ProtocolError("no hello within the timeout"), CloseCode.POLICY)
            return
        # No await between the welcome and joining the subscribers: every summary after
        # this welcome reaches this socket, in order, through its queue.
        conn.outbound.push(OutFrame(board.welcome(hello.known, access, tournament)))
        board.subs.add(conn)
        await _read_loop(conn, services)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("board socket failed")
        await conn.close(CloseCode.INTERNAL, "internal error")
    finally:
        conn.outbound.cancel()
        services.connections.discard(conn)
        METRICS.ws_connections.dec()
        if board is not None:
            await reg.leave(board, conn)


def _today(now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, UTC).date()


async def _refuse(conn: BoardConn, exc: CourtroomError, code: int | None = None) -> None:
    frame = orjson.dumps({"type": "error", "ref": None, "code": exc.code, "message": exc.message})
    await conn._send(OutFrame(frame))
    await conn.close(code if code is not None else close_code_for(exc), exc.message)


async def _board_hello(ws: WebSocket, services: Services) -> BoardHello | None:
    msg = await asyncio.wait_for(ws.receive(), services.settings.hello_timeout_seconds)
    if msg["type"] == "websocket.disconnect":
        return None
    text = msg.get("text")
    if text is None or len(text) > services.settings.max_frame_bytes:
        raise ProtocolError("the hello is one JSON text frame")
    return _decode_hello(text)


async def _read_loop(conn: BoardConn, services: Services) -> None:
    """After the welcome the client only pings (the board is read-only)."""
    clock = services.courtroom.clock
    while not conn.closed:
        msg = await conn.ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text") or ""
        try:
            body = orjson.loads(text) if len(text) <= 4096 else None
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and body.get("type") == "ping":
            ref = body.get("id")
            reply = {"type": "pong", "ref": ref, "server_time_ms": clock()}
            conn.outbound.push(OutFrame(orjson.dumps(reply)))
            continue
        err = {
            "type": "error",
            "ref": body.get("id") if isinstance(body, dict) else None,
            "code": ErrorCode.BAD_REQUEST,
            "message": "the board channel takes ping only",
        }
        conn.outbound.push(OutFrame(orjson.dumps(err)))
