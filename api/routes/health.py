"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics``.

These are unauthenticated, at the root and not under ``/api/v1``, because load balancers,
orchestrators and Prometheus call them without keys. They reveal no data: readiness reports
only which dependency fails and why.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from api.deps import ServicesDep
from api.influx import InfluxUnavailable
from api.probes import ProbeFailed, mqtt_probe

router = APIRouter(tags=["health"])


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Ready(BaseModel):
    ready: bool
    checks: dict[str, Check]


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", response_model=Ready, summary="Readiness: broker, InfluxDB, alert store",
    responses={503: {"model": Ready, "description": "a dependency is not reachable"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    async def influx() -> Check:
        try:
            await services.influx.ping()
        except InfluxUnavailable as exc:
            return Check(ok=False, detail=exc.detail)
        return Check(ok=True)

    async def broker() -> Check:
        try:
            await mqtt_probe(services.settings.mqtt)
        except ProbeFailed as exc:
            return Check(ok=False, detail=str(exc))
        return Check(ok=True)

    async def store() -> Check:
        try:
            await anyio.to_thread.run_sync(services.alerts.ping)
        except ProbeFailed as exc:
            return Check(ok=False, detail=str(exc))
        return Check(ok=True)

    influx_c, broker_c, store_c = await asyncio.gather(influx(), broker(), store())
    checks = {"influxdb": influx_c, "mqtt": broker_c, "alerts_db": store_c}
    ready = all(c.ok for c in checks.values())
    body = Ready(ready=ready, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
