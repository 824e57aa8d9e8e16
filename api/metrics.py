"""Prometheus metrics of one app instance (own registry, so test apps never collide).

Requests are labelled by route *template* (``/api/v1/stations/{station_id}``), never by the raw
path, so 20,000 station ids do not become 20,000 time series.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ApiMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "heatwatch_api_requests", "HTTP requests by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "heatwatch_api_request_seconds", "request handling time",
            ["route"], buckets=_BUCKETS, registry=self.registry,
        )
        self.influx = Histogram(
            "heatwatch_api_influx_query_seconds", "InfluxQL round trips",
            ["outcome"], buckets=_BUCKETS, registry=self.registry,
        )
        self.fleet_cache = Counter(
            "heatwatch_api_fleet_cache",
            "fleet snapshot lookups: hit, stale (served while refreshing) or miss (waited)",
            ["result"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "heatwatch_api_auth_failures",
            "requests refused by authentication (401), role (403) or the wrong-key limit (429)",
            ["status"], registry=self.registry,
        )

    def observe_influx(self, seconds: float, ok: bool) -> None:
        self.influx.labels("ok" if ok else "error").observe(seconds)

    def observe_cache(self, result: str) -> None:
        self.fleet_cache.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = _template(request)
        self.requests.labels(request.method, route, str(response.status_code)).inc()
        self.latency.labels(route).observe(time.perf_counter() - start)
        if response.status_code in (401, 403):
            self.auth_failures.labels(str(response.status_code)).inc()
        return response


def _template(request: Request) -> str:
    """The matched route's path template (the router records it in the scope)."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"
