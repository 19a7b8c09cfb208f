"""The Starlette (FastAPI) application and its lifespan.

FastAPI is Starlette with typed request validation and OpenAPI docs
(``/docs``, ``/openapi.json``); the WebSocket endpoint is a plain Starlette
route so nothing sits between the socket and the hub.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from protocol import CloseCode
from protocol.errors import CourtroomError
from server.auth import TokenSigner
from server.broker import create_broker
from server.clockwork import Clockwork
from server.config import Settings
from server.courtroom import Courtroom
from server.errors import courtroom_error_handler, unexpected_error_handler
from server.heap import HeapKeeper
from server.hub import Hub
from server.observers import ObserverGate
from server.presence import PresenceTracker
from server.record import RecordKeeper, hub_delivery
from server.routes import auth, health, record, rounds, schedule, sessions
from server.rules.session import RulesConfig
from server.schedule_service import ScheduleService
from server.serve import RUNNING
from server.services import Services
from server.signing import load_keyring
from server.ws import drain_departures, session_socket
from store import ClusterStore, RecordStore, ScheduleStore, SessionStore, UserStore, migrate
from timers import Clock, system_clock

log = logging.getLogger("courtroom")


def rules_config(settings: Settings) -> RulesConfig:
    f = settings.flags
    return RulesConfig(
        round_engine=f.classroom_round_engine,
        auto_submit_on_timeout=f.auto_submit_on_timeout,
        allow_late_submission=f.allow_late_submission,
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    timer_max_sleep_ms: int = 1000,
) -> FastAPI:
    """Build the app. ``clock`` is the server's time source (epoch ms); tests inject one."""
    settings = settings or Settings.from_env()
    the_clock: Clock = clock or system_clock

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_data_dir()
        if settings.auto_migrate:
            await migrate(settings.database_url)
        store = SessionStore(
            settings.database_url,
            max_batch=settings.write_batch_max,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
        broker = create_broker(settings.redis_url, prefix=settings.redis_prefix)
        courtroom = Courtroom(
            store,
            broker,
            the_clock,
            rules_config(settings),
            node_id=settings.resolved_node_id(),
            lease_ms=settings.timer_lease_ms,
        )
        heap = HeapKeeper() if settings.gc_freeze else None
        hub = Hub(
            store,
            broker,
            the_clock,
            tick_interval_ms=settings.tick_interval_ms,
            backlog_limit=settings.outbound_queue_frames,
            # Across nodes, pub/sub may drop a message: compare heads with the log.
            reconcile_ms=1000 if settings.redis_url else None,
            after_tick=heap.after_tick if heap is not None else None,
        )
        observers = ObserverGate(courtroom, window_ms=settings.observer_window_ms)
        clockwork = Clockwork(
            courtroom, max_sleep_ms=timer_max_sleep_ms, single_node=settings.redis_url is None
        )
        services = Services(
            settings=settings,
            store=store,
            users=UserStore(store),
            broker=broker,
            courtroom=courtroom,
            hub=hub,
            clockwork=clockwork,
            signer=TokenSigner(settings.resolved_secret(), settings.token_ttl_seconds),
            presence=PresenceTracker(
                ClusterStore(store),
                courtroom,
                observers,
                node_ttl_ms=settings.node_ttl_ms,
                grace_ms=settings.reconnect_grace_ms,
            ),
            observers=observers,
        )
        scheduling = ScheduleService(ScheduleStore(store), the_clock)
        services.extras["schedule"] = scheduling
        services.extras["assignment_resolver"] = scheduling.resolve_assignment
        # Record v2: the Merkle tree and signed checkpoints, kept after each commit.
        keeper = RecordKeeper(
            store,
            RecordStore(store),
            load_keyring(data=settings.data_dir),
            the_clock,
            hub_delivery(hub),
        )
        courtroom.on_commit(keeper.hook)
        services.extras["record"] = keeper
        app.state.services = services
        if hasattr(broker, "on_resync"):
            broker.on_resync = hub.resync
        await hub.start()
        await services.presence.start()
        await clockwork.start()
        await keeper.start()
        if heap is not None:
            heap.start()
        RUNNING.append(services)
        try:
            yield
        finally:
            RUNNING.remove(services)
            # Tell every client to come back elsewhere (or here after a restart).
            for conn in list(services.connections):
                await conn.close(CloseCode.GOING_AWAY, "server shutting down")
            await drain_departures()
            await observers.close()
            await services.presence.close()
            await clockwork.close()
            await keeper.close()
            await hub.close()
            await broker.close()
            await store.close()
            if heap is not None:
                heap.stop()

    app = FastAPI(
        title="Courtroom",
        version="0.1.0",
        summary="Live moot-court sessions with an authoritative clock and a verifiable log.",
        lifespan=lifespan,
    )
    app.add_exception_handler(CourtroomError, courtroom_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    for router in (health.router, auth.router, sessions.router, rounds.router, record.router):
        app.include_router(router)
    schedule.install(app)
    app.include_router(record.keys_router)
    # First in the table: a crowd's handshakes should not be matched against every HTTP route.
    app.router.routes.insert(0, WebSocketRoute("/ws/sessions/{session_id}", session_socket))
    # The browser client (plain ES modules, docs/browser.md) at /app/; / leads there.
    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="app")
    app.router.routes.append(Route("/", _to_app, include_in_schema=False))
    return app


STATIC_DIR = Path(__file__).parent / "static"


async def _to_app(request: Request) -> RedirectResponse:
    return RedirectResponse("/app/")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors, "code": "bad_request"}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "bad_request"}.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal"
    )
    return JSONResponse(
        {"detail": exc.detail, "code": code}, status_code=exc.status_code, headers=exc.headers
    )
