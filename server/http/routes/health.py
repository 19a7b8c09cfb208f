"""``/healthz`` (process up), ``/readyz`` (database and broker reachable), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.http.routes import models as m
from server.http.routes.deps import Svc
from server.live.metrics import METRICS

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=m.Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=m.Readiness,
    responses={503: {"model": m.Readiness, "description": "Not ready: the failing checks"}},
)
async def readyz(svc: Svc) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", svc.store.ping), ("broker", svc.broker.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    return Response(generate_latest(METRICS.registry), media_type=CONTENT_TYPE_LATEST)
