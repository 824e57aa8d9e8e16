"""Error bodies and their handlers: every failure the API knows about gets a status and a reason.

422 bodies keep FastAPI's shape (``detail`` is a list of ``{loc, msg, type}``) whether pydantic
or a route found the problem, so clients parse one format. Dependencies that fail are 503 with
the dependency named, never a 500 with a stack trace. A 503 body says only which dependency
failed: the reason (InfluxDB's URL, SQLite's error text, file paths) is logged, not sent.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse

from api.alertsdb import AlertConflict, NotFound
from api.influx import InfluxUnavailable

__all__ = ["install_handlers", "invalid"]

log = logging.getLogger(__name__)


def invalid(where: str, name: str, msg: str) -> HTTPException:
    """A 422 in FastAPI's own format, for checks a type annotation cannot express."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": [where, name], "msg": msg, "type": "value_error"}],
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(InfluxUnavailable)
    async def _influx(request: Request, exc: InfluxUnavailable) -> JSONResponse:
        log.warning("influxdb unavailable: %s", exc.detail)
        return JSONResponse(
            {"detail": "InfluxDB is unavailable", "dependency": "influxdb"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
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
