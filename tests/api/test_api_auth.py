"""Every route: 401 without a key (or with an unknown one), 403 below its role, allowed at it."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import ROLES, AppFactory, auth
from fastapi import FastAPI

from api.config import DEV_KEY

pytestmark = pytest.mark.anyio

WINDOW = {"scope": "station", "target": "s1", "duration_s": 600, "reason": "pump swap"}
BACKTEST = {"rule": "power_loss", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:10:00Z"}
COMPLAINT = {"station": "s1", "meter": "f1", "channel": "12345", "text": "cold"}

# (method, path, template, lowest role, json body)
ROUTES: list[tuple[str, str, str, str, object]] = [
    ("GET", "/api/v1/stations", "/api/v1/stations", "viewer", None),
    ("GET", "/api/v1/stations/s1", "/api/v1/stations/{station_id}", "viewer", None),
    ("GET", "/api/v1/stations/s1/history?field=supply_temp",
     "/api/v1/stations/{station_id}/history", "viewer", None),
    ("GET", "/api/v1/stations/s1/curve", "/api/v1/stations/{station_id}/curve", "viewer", None),
    ("GET", "/api/v1/zones", "/api/v1/zones", "viewer", None),
    ("GET", "/api/v1/zones/north", "/api/v1/zones/{zone}", "viewer", None),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", "viewer", None),
    ("GET", "/api/v1/alerts/nope", "/api/v1/alerts/{alert_id}", "viewer", None),
    ("GET", "/api/v1/alerts/nope/history", "/api/v1/alerts/{alert_id}/history", "viewer", None),
    ("POST", "/api/v1/alerts/nope/ack", "/api/v1/alerts/{alert_id}/ack", "crew",
     {"comment": "on it"}),
    ("DELETE", "/api/v1/alerts/nope/ack", "/api/v1/alerts/{alert_id}/ack", "crew", None),
    ("GET", "/api/v1/windows", "/api/v1/windows", "viewer", None),
    ("POST", "/api/v1/windows", "/api/v1/windows", "admin", WINDOW),
    ("POST", "/api/v1/windows/999/end", "/api/v1/windows/{window_id}/end", "admin", None),
    ("GET", "/api/v1/rules", "/api/v1/rules", "viewer", None),
    ("POST", "/api/v1/rules/backtest", "/api/v1/rules/backtest", "admin", BACKTEST),
    ("GET", "/api/v1/comfort", "/api/v1/comfort", "viewer", None),
    ("GET", "/api/v1/forecast", "/api/v1/forecast", "viewer", None),
    ("GET", "/api/v1/comfort/today?station=s1", "/api/v1/comfort/today", "viewer", None),
    ("POST", "/api/v1/complaints", "/api/v1/complaints", "hotline", COMPLAINT),
    ("GET", "/api/v1/complaints", "/api/v1/complaints", "hotline", None),
    ("GET", "/api/v1/complaints/kpis", "/api/v1/complaints/kpis", "viewer", None),
    ("GET", "/api/v1/complaints/T000001", "/api/v1/complaints/{ticket}", "hotline", None),
    ("POST", "/api/v1/complaints/T999999/visit", "/api/v1/complaints/{ticket}/visit", "crew",
     {"note": "radiator bled"}),
    ("POST", "/api/v1/complaints/T999999/resolve", "/api/v1/complaints/{ticket}/resolve",
     "crew", {"note": "warm again"}),
]
PUBLIC = {"/healthz", "/readyz", "/metrics"}


def test_every_route_is_in_the_role_table(app: FastAPI) -> None:
    """A new route without a row here fails this test, so none ships without a role check."""
    paths = app.openapi()["paths"]
    published = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    covered = {(m, t) for m, _, t, _, _ in ROUTES}
    assert {(m, p) for m, p in published if p not in PUBLIC} == covered
    for method, path in covered:
        assert paths[path][method.lower()]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize(("method", "path", "template", "role", "body"), ROUTES,
                         ids=[f"{r[0]} {r[2]}" for r in ROUTES])
async def test_roles(
    client: httpx.AsyncClient, method: str, path: str, template: str, role: str, body: object
) -> None:
    missing = await client.request(method, path, json=body)
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")

    wrong = await client.request(method, path, json=body,
                                 headers={"Authorization": "Bearer hw_not-a-key"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "unknown API key"

    basic = await client.request(method, path, json=body,
                                 headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401

    needed = ROLES.index(role)
    for lower in ROLES[:needed]:
        refused = await client.request(method, path, json=body, headers=auth(lower))
        assert refused.status_code == 403, (lower, refused.text)
        assert f"has role {lower}" in refused.json()["detail"]
        assert f"needs {role}" in refused.json()["detail"]
    for allowed in ROLES[needed:]:
        ok = await client.request(method, path, json=body, headers=auth(allowed))
        assert ok.status_code not in (401, 403, 500), (allowed, ok.text)


async def test_public_probes_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert (await client.get("/metrics")).status_code == 200


async def test_dev_key_only_in_dev_mode(make_app: AppFactory) -> None:
    dev_header = {"Authorization": f"Bearer {DEV_KEY}"}
    for dev_mode, expected in ((False, 401), (True, 200)):
        transport = httpx.ASGITransport(app=make_app(dev_mode=dev_mode))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/api/v1/rules", headers=dev_header)).status_code == expected
