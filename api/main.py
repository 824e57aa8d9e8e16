"""``create_app(settings)``: the FastAPI application, built in a function, never at import.

Building the app reads the registry and the rules file and opens the alert store, so a wrong
path fails when the service starts, with the key that names it. Nothing connects to InfluxDB or
the broker until a request needs it: the API starts (and answers ``/readyz`` with the reason)
while they are down.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from alerts.config import RulesConfig, load_rules
from api.alertsdb import AlertsDb
from api.config import ApiSettings
from api.deps import Services
from api.errors import install_handlers
from api.fleet import SnapshotCache
from api.keys import KeyRing
from api.metrics import ApiMetrics
from api.probes import Readiness
from api.ratelimit import FailedKeyLimiter
from api.routes import (
    alerts,
    comfort,
    complaints,
    curve,
    forecast,
    health,
    page,
    rules,
    stations,
    windows,
    zones,
)
from api.schemas import errors
from heatwatch import __version__
from heatwatch.influx import AsyncInfluxClient
from heatwatch.registry import Registry, load_registry
from heatwatch.settings import ConfigError
from households.complaints import ComplaintStore
from households.config import load_comfort

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


def create_app(
    settings: ApiSettings,
    *,
    registry: Registry | None = None,
    rules_config: RulesConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app for ``settings``; ``registry``/``rules_config``/``clock`` are for tests."""
    if settings.dev_mode:
        log.warning("dev_mode is on: the well-known development admin key is accepted")
    registry = registry if registry is not None else load_registry(settings.registry)
    rules_config = rules_config if rules_config is not None else load_rules(settings.rules)
    metrics = ApiMetrics()
    influx = AsyncInfluxClient(settings.influx, observe=metrics.observe_influx)
    try:
        alerts_db = AlertsDb(settings.alerts_db)
        complaint_store = ComplaintStore(settings.alerts_db)
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(
            f"alerts_db {settings.alerts_db}: cannot open the alert store: {exc}"
        ) from exc
    services = Services(
        settings=settings,
        keys=KeyRing(settings.keys, dev_mode=settings.dev_mode),
        registry=registry,
        rules=rules_config,
        influx=influx,
        alerts=alerts_db,
        fleet=SnapshotCache(influx, alerts_db, registry, settings.cache, clock=clock,
                    on_cache=metrics.observe_cache),
        metrics=metrics,
        readiness=Readiness(lambda: health.probe_dependencies(services),
                            settings.readiness.cache_s, clock),
        key_limiter=FailedKeyLimiter(settings.auth.max_failures, settings.auth.window_s,
                                     max_clients=settings.auth.max_clients, clock=clock),
        complaints=complaint_store,
        comfort=load_comfort(settings.comfort),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.fleet.refresh_in_background()  # the first station list need not wait
        yield
        await influx.aclose()
        alerts_db.close()
        complaint_store.close()

    app = FastAPI(
        title="heatwatch API",
        version=__version__,
        description="District-heating stations, zones, alerts and maintenance windows. "
        "Authenticate with `Authorization: Bearer <key>`; roles viewer < hotline < crew < admin.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        root_path=settings.server.root_path,
        lifespan=lifespan,
    )
    app.state.services = services
    install_handlers(app)
    app.middleware("http")(metrics.middleware)
    api = APIRouter(prefix=API_PREFIX, responses=errors(401, 403, 503))
    for module in (stations, curve, zones, alerts, windows, rules, comfort, complaints,
                   forecast):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    page.mount(app)  # the operator page at / (public files, no data), after the API's routes
    return app
