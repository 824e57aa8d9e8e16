"""Schemathesis: requests generated from the published OpenAPI document never get a 5xx.

Schemathesis generates the cases (valid ones, and invalid ones that break the schema) from
``/api/v1/openapi.json``; they are sent with httpx's ASGITransport, because the installed
schemathesis' own requests transport fails on this urllib3. Runs as an admin, so generated input
reaches the deepest validation, against an app on the real InfluxDB and a store with alerts.
Bounded: a fixed number of examples per operation and mode, well under a minute in total.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import schemathesis
from api_helpers import AppFactory, auth, fill_fleet, stored_alert
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from alerts.model import AlertState
from alerts.store import Store
from api.config import BacktestSettings
from heatwatch.local.servers import InfluxServer

EXAMPLES = 25
ADMIN = auth("admin")


@pytest.fixture
def fuzz_app(make_app: AppFactory, influx: InfluxServer, database: str, store: Store) -> FastAPI:
    fill_fleet(influx, database)
    stored_alert(store, "pump_stopped", "s3", "south")
    stored_alert(store, "power_loss", "s1", "north", state=AlertState.RESOLVED,
                 active_at=time.time() - 7200)
    # Short backtests only: each generated one really replays history through the engine.
    return make_app(backtest=BacktestSettings(max_period_s=3600, max_wide_period_s=3600))


async def _send(app: FastAPI, kwargs: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.request(
            kwargs["method"], kwargs["url"], params=kwargs.get("params"),
            headers={**kwargs.get("headers", {}), **ADMIN}, json=kwargs.get("json"),
            content=kwargs.get("data") if "json" not in kwargs else None,
        )


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_server_errors(fuzz_app: FastAPI, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(fuzz_app.openapi())
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/metrics":
            continue  # plain text, no parameters: nothing to generate

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://api.test")
            response = asyncio.run(_send(fuzz_app, kwargs))
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (kwargs, response.text[:500])

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.path
    # The run really exercised the API, not just the auth layer.
    assert len(seen) >= 14
    assert any(200 in codes for codes in seen.values())
    assert any(422 in codes for codes in seen.values())
