"""Shared ``Annotated`` dependencies: the app's services and the role checks.

Roles are ordered (viewer < hotline < crew < admin) and every route names the lowest role it
needs through one of :data:`Viewer`, :data:`Hotline`, :data:`Crew` or :data:`Admin`, so the
OpenAPI document shows the security requirement and a route without one stands out in review.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.config import RulesConfig
from api.alertsdb import AlertsDb
from api.config import ApiSettings, Role
from api.fleet import SnapshotCache
from api.keys import KeyRing, Principal
from api.metrics import ApiMetrics
from api.probes import Readiness
from api.queries import Flat
from api.ratelimit import FailedKeyLimiter
from heatwatch.influx import AsyncInfluxClient
from heatwatch.registry import Registry
from households.complaints import ComplaintStore
from households.config import ComfortConfig

__all__ = ["Admin", "Crew", "Hotline", "Services", "ServicesDep", "Viewer"]


@dataclass(slots=True)
class Services:
    """Everything a request may need, built once per app by :func:`api.main.create_app`."""

    settings: ApiSettings
    keys: KeyRing
    registry: Registry
    rules: RulesConfig
    influx: AsyncInfluxClient
    alerts: AlertsDb
    fleet: SnapshotCache
    metrics: ApiMetrics
    readiness: Readiness
    key_limiter: FailedKeyLimiter
    complaints: ComplaintStore  # hotline tickets, in the alerts_db file
    comfort: ComfortConfig
    clock: Callable[[], float] = field(default=time.time)
    # zone -> (taken at, flats' latest indoor temperatures): operator pages poll zones too
    zone_cache: dict[str, tuple[float, list[Flat]]] = field(default_factory=dict)
    backtest_lock: threading.Lock = field(default_factory=threading.Lock)  # one at a time



def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False,
    description="API key: `Authorization: Bearer <key>`; roles viewer < hotline < crew < admin",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="heatwatch"'}


def _require(role: Role) -> Callable[..., Principal]:
    def check(
        request: Request,
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        address = request.client.host if request.client else "unknown"
        wait = services.key_limiter.retry_after(address)
        if wait is not None:
            services.metrics.auth_failures.labels("429").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many wrong API keys from this address; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send the header 'Authorization: Bearer <key>'",
                headers=_CHALLENGE,
            )
        principal = services.keys.authenticate(credentials.credentials)
        if principal is None:
            services.key_limiter.failed(address)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key", headers=_CHALLENGE
            )
        if principal.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"key {principal.name!r} has role {principal.role.label}; "
                f"this needs {role.label} or higher",
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(_require(Role.VIEWER))]
Hotline = Annotated[Principal, Depends(_require(Role.HOTLINE))]
Crew = Annotated[Principal, Depends(_require(Role.CREW))]
Admin = Annotated[Principal, Depends(_require(Role.ADMIN))]
