"""The Starlette (FastAPI) application and its lifespan.

FastAPI is Starlette with typed request validation and OpenAPI docs
(``/docs``, ``/openapi.json``); the WebSocket endpoints are plain Starlette
routes, served past the middleware and the router (``server/http/sockets.py``) so
nothing sits between the socket and the hub.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from protocol import CloseCode
from protocol.errors import CourtroomError
from server.common.auth import TokenSigner
from server.common.config import Settings
from server.common.errors import CatchAll, courtroom_error_handler, unexpected_error_handler
from server.common.heap import HeapKeeper
from server.common.logs import RequestIdMiddleware
from server.common.signing import load_keyring
from server.http.origins import OriginGate
from server.http.routes import auth, health, record, rounds, schedule, sessions
from server.http.serve import RUNNING
from server.http.sockets import CourtroomApp
from server.http.throttle import LoginThrottle
from server.http.verify_page import verify_page
from server.live.board_socket import start_news, tournament_socket
from server.live.broker import create_broker
from server.live.clockwork import Clockwork
from server.live.courtroom import Courtroom
from server.live.hub import Hub
from server.live.observers import ObserverGate
from server.live.presence import PresenceTracker
from server.live.record import RecordKeeper, broker_delivery
from server.live.services import Services
from server.live.ws import drain_departures, session_socket
from server.rules.session import RulesConfig
from server.scheduling.service import ScheduleService
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
        observers = ObserverGate(
            courtroom, window_ms=settings.observer_window_ms, audience=hub.audience
        )
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
        services.extras["login_throttle"] = LoginThrottle(
            the_clock,
            free_per_account=settings.login_free_failures_account,
            free_per_address=settings.login_free_failures_address,
            max_backoff_ms=settings.login_max_backoff_seconds * 1000,
        )
        # Record v2: the Merkle tree and signed checkpoints, kept after each commit.
        keeper = RecordKeeper(
            store,
            RecordStore(store),
            load_keyring(data=settings.data_dir),
            the_clock,
            broker_delivery(broker),
        )
        courtroom.on_commit(keeper.hook)
        services.extras["record"] = keeper
        app.state.services = services
        if hasattr(broker, "on_resync"):
            broker.on_resync = hub.resync
        await hub.start()
        news = await start_news(services)
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
            await news.close()
            await broker.close()
            await store.close()
            if heap is not None:
                heap.stop()

    app = CourtroomApp(
        title="Courtroom",
        version="0.1.0",
        summary="Live moot-court sessions with an authoritative clock and a verifiable log.",
        lifespan=lifespan,
        # Served from this process (_install_docs), never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    _install_docs(app)
    app.add_exception_handler(CourtroomError, courtroom_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    for router in (health.router, auth.router, sessions.router, rounds.router, record.router):
        app.include_router(router)
    schedule.install(app)
    app.include_router(record.keys_router)
    # Served directly, with the origin gate and request ids of the middleware below
    # (server/http/sockets.py): each middleware frame would live as long as the socket.
    app.serve_sockets(
        [
            WebSocketRoute("/ws/sessions/{session_id}", session_socket),
            WebSocketRoute("/ws/tournaments/{tournament_id}", tournament_socket),
        ],
        settings.allowed_origins,
    )
    # The browser client (plain ES modules, docs/browser.md) at /app/; / leads there.
    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="app")
    app.router.routes.append(Route("/", _to_app, include_in_schema=False))
    # The bundle verifier as one file that also works saved, with no server.
    app.router.routes.append(Route("/verify", verify_page, include_in_schema=False))
    # Outermost first: the request id covers everything, the origin gate runs before any
    # route (a refused WebSocket is never accepted). The socket routes above do both
    # themselves.
    allowed = [o for o in settings.allowed_origins if o != "*"]
    if allowed or "*" in settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"] if "*" in settings.allowed_origins else allowed,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID"],
        )
    app.add_middleware(CatchAll)
    app.add_middleware(OriginGate, allowed=settings.allowed_origins)
    app.add_middleware(RequestIdMiddleware)
    return app


def _docs_assets() -> Path:
    """Swagger UI and ReDoc, as shipped by the pinned fastapi-offline package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their assets served by this server."""
    assets = "/docs-assets"
    app.mount(assets, StaticFiles(directory=_docs_assets()), name="docs-assets")

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - API",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{root}{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{assets}/favicon.png",
            with_google_fonts=False,
        )
        # The bundle's one outside reference is the Redocly logo in the menu's footer;
        # the policy stops the browser from fetching it (the page works without it).
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page

    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


STATIC_DIR = Path(__file__).parent.parent / "static"


async def _to_app(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/app/")


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], bool, set[str]]]:
    """(path regex, has parameters, methods) for every documented path, built once."""
    cached: list[tuple[re.Pattern[str], bool, set[str]]] | None = getattr(
        app.state, "path_methods", None
    )
    if cached is None:
        cached = []
        for template, ops in app.openapi()["paths"].items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in ops if m != "parameters"}
            cached.append((re.compile(regex + "$"), "{" in template, methods))
        app.state.path_methods = cached
    return cached


def _methods_for(request: Request, *, fixed_only: bool = False) -> set[str]:
    """Every documented method at this path (Starlette's 405 names only one route's)."""
    path = request.scope["path"][len(request.scope.get("root_path", "")) :]
    fixed: set[str] = set()
    templated: set[str] = set()
    for regex, has_params, ms in _path_methods(request.app):
        if regex.match(path):
            (templated if has_params else fixed).update(ms)
    # A fixed path (/api/session/create) wins over a template ({session_id}) it also fits.
    return fixed if fixed or fixed_only else templated


def _method_not_allowed(request: Request, methods: set[str]) -> JSONResponse:
    return JSONResponse(
        {"detail": "Method Not Allowed", "code": "bad_request"},
        status_code=405,
        headers={"Allow": ", ".join(sorted(methods))},
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if all(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
        # The path is not an id of this route but the fixed path of another one
        # (GET /api/session/create): the method is what is wrong, so 405.
        fixed = _methods_for(request, fixed_only=True)
        if fixed:
            return _method_not_allowed(request, fixed)
    # Only loc, msg and type: pydantic's "input" would echo a submitted password back.
    errors: list[dict[str, Any]] = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors, "code": "bad_request"}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _method_not_allowed(request, _methods_for(request))
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "bad_request"}.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal"
    )
    return JSONResponse(
        {"detail": exc.detail, "code": code}, status_code=exc.status_code, headers=exc.headers
    )
