"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics``.

These are unauthenticated, at the root and not under ``/api/v1``, because load balancers,
orchestrators and Prometheus call them without keys. They reveal no data: readiness reports
only which dependency fails; why (addresses, paths, error text) goes to the log, and one probe
serves every call for ``readiness.cache_s`` (api.probes.Readiness).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio.to_thread
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from api.deps import Services, ServicesDep
from api.probes import ProbeFailed, mqtt_probe
from heatwatch.influx import InfluxUnavailable

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class Check(BaseModel):
    ok: bool


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
    checks = await services.readiness.checks()
    ready = all(checks.values())
    body = Ready(ready=ready, checks={name: Check(ok=ok) for name, ok in checks.items()})
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


async def probe_dependencies(services: Services) -> dict[str, bool]:
    """One probe of each dependency; each failure is logged with its reason."""
    timeout = services.settings.readiness.timeout_s

    async def influx() -> None:
        async with asyncio.timeout(timeout):
            await services.influx.ping()

    async def broker() -> None:
        await mqtt_probe(services.settings.mqtt, timeout=timeout)

    async def store() -> None:
        await anyio.to_thread.run_sync(services.alerts.ping)

    async def check(name: str, probe: Callable[[], Awaitable[None]]) -> bool:
        try:
            await probe()
        except (InfluxUnavailable, ProbeFailed) as exc:
            log.warning("not ready: %s: %s", name, getattr(exc, "detail", None) or exc)
            return False
        except TimeoutError:
            log.warning("not ready: %s did not answer within %g s", name, timeout)
            return False
        return True

    names = ("influxdb", "mqtt", "alerts_db")
    results = await asyncio.gather(*(check(n, p) for n, p in zip(
        names, (influx, broker, store), strict=True)))
    return dict(zip(names, results, strict=True))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
