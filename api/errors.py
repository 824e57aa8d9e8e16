"""Error bodies and their handlers: every failure the API knows about gets a status and a reason.

422 bodies keep FastAPI's shape (``detail`` is a list of ``{loc, msg, type}``) whether pydantic
or a route found the problem, so clients parse one format. Dependencies that fail are 503 with
the dependency named, never a 500 with a stack trace. A 503 body says only which dependency
failed: the reason (InfluxDB's URL, SQLite's error text, file paths) is logged, not sent.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse

from api.alertsdb import AlertConflict, NotFound
from api.fleet import FleetNotReady
from api.schemas import MAX_TIME, MIN_TIME
from heatwatch.influx import InfluxUnavailable

__all__ = ["install_handlers", "invalid"]

log = logging.getLogger(__name__)


def invalid(where: str, name: str, msg: str) -> HTTPException:
    """A 422 in FastAPI's own format, for checks a type annotation cannot express."""
    # The stdlib's name, not Starlette's: ``status.HTTP_422_UNPROCESSABLE_CONTENT`` exists only
    # from Starlette 0.48, older ones (which fastapi>=0.115 allows) have only the name that
    # 0.48 deprecates. HTTPStatus.UNPROCESSABLE_ENTITY is 422 on every Python we support.
    return HTTPException(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        [{"loc": [where, name], "msg": msg, "type": "value_error"}],
    )


def time_range(start: datetime | None, end: datetime | None, now: float, default: timedelta,
               longest_s: float) -> tuple[datetime, datetime]:
    """``start``/``end`` query parameters checked as every time-range route checks them (an
    offset, 2000-2100, start before end, at most ``longest_s``); missing ones default to
    ``now`` and ``default`` before the end. Raises :func:`invalid` 422s."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise invalid("query", name, "give a time zone offset, like 2026-01-15T06:00:00Z")
        if value is not None and not MIN_TIME <= value < MAX_TIME:
            raise invalid("query", name, "must be between 2000-01-01 and 2100-01-01")
    t1 = end or datetime.fromtimestamp(now, UTC)
    t0 = start or t1 - default
    span = (t1 - t0).total_seconds()
    if span <= 0:
        raise invalid("query", "start", "start must be before end")
    if span > longest_s:
        raise invalid("query", "start", "the time range may be at most 366 days")
    return t0, t1


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(InfluxUnavailable)
    async def _influx(request: Request, exc: InfluxUnavailable) -> JSONResponse:
        log.warning("influxdb unavailable: %s", exc.detail)
        return JSONResponse(
            {"detail": "InfluxDB is unavailable", "dependency": "influxdb"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(FleetNotReady)
    async def _not_ready(request: Request, exc: FleetNotReady) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "dependency": "influxdb"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(sqlite3.Error)
    async def _sqlite(request: Request, exc: sqlite3.Error) -> JSONResponse:
        log.warning("alert store error: %s", exc)
        return JSONResponse(
            {"detail": "the alert store is unavailable", "dependency": "alerts_db"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"not found: {exc.args[0]}"}, status_code=404)

    @app.exception_handler(AlertConflict)
    async def _conflict(request: Request, exc: AlertConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)
