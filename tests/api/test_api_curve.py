"""``GET /stations/{id}/curve`` on the real InfluxDB, and its plot on the operator page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import KEYS, AppFactory, auth, write_lines
from fastapi import FastAPI
from selenium.webdriver.remote.webdriver import WebDriver
from test_operator_page import _serve, browser, log_in, script_errors, wait_for, wait_present

from heatwatch.local.servers import InfluxServer

__all__ = ["browser"]  # the fixture, imported for the page test

RULES = """
stations:
  s1:
    heating:
      timezone: Europe/Belgrade
      off_windows: [{start: "23:00", end: "05:00"}]
      setback_start: "22:00"
      setback_end: "06:00"
      setback_k: 4.0
    supply_below_curve:
      calibrated_curve: [{outdoor_c: -10.0, supply_c: 60.0}, {outdoor_c: 15.0, supply_c: 40.0}]
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


@pytest.fixture
def readings(influx: InfluxServer, database: str) -> int:
    """Three days of s1 every 30 minutes on its curve; s3 also reports a setpoint."""
    now = int(time.time())
    lines = []
    for k in range(1, 3 * 48):
        outdoor = -5 + (k % 40) / 2
        supply = 60 - (outdoor + 10) * 0.8
        t = now - 1800 * k
        lines.append(f"telemetry,station=s1,zone=north outdoor_temp={outdoor},"
                     f"supply_temp={supply},heat_power=200 {t}")
        lines.append(f"telemetry,station=s3,zone=south outdoor_temp={outdoor},"
                     f"supply_temp={supply},supply_setpoint={supply + 1} {t}")
    write_lines(influx, database, lines)
    return 3 * 48 - 1


@pytest.fixture
def curve_app(make_app: AppFactory, rules_file: Path) -> FastAPI:
    return make_app(rules=rules_file)


async def _get(app: FastAPI, path: str, **params: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        resp = await c.get(path, params=params, headers=auth("viewer"))
    await app.state.services.influx.aclose()
    return resp


@pytest.mark.anyio
async def test_curve_in_effect_and_readings(curve_app: FastAPI, readings: int) -> None:
    resp = await _get(curve_app, "/api/v1/stations/s1/curve")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["calibrated"] is True and body["reference"] == "calibrated_curve"
    assert body["curve"] == [{"outdoor_c": -10.0, "supply_c": 60.0},
                             {"outdoor_c": 15.0, "supply_c": 40.0}]
    assert body["default_curve"][0] == {"outdoor_c": -19.0, "supply_c": 55.0}
    assert body["off_windows"] == [{"start": "23:00:00", "end": "05:00:00"}]
    assert body["setback"] == {"start": "22:00:00", "end": "06:00:00", "k": 4.0}
    assert body["timezone"] == "Europe/Belgrade" and body["zone"] == "north"
    # 30 days in buckets of 30 days / 2000 = 1296 s: each 30-minute reading its own bucket
    assert body["bucket_s"] == 1296
    samples = body["samples"]
    assert len(samples) == readings
    for s in samples:
        assert s["supply_c"] == pytest.approx(60 - (s["outdoor_c"] + 10) * 0.8)
        assert s["setpoint_c"] is None and s["heat_power_kw"] == 200

    # s3: no calibration, and its readings carry the controller's setpoint.
    body = (await _get(curve_app, "/api/v1/stations/s3/curve")).json()
    assert body["calibrated"] is False and body["reference"] == "supply_setpoint"
    assert body["curve"] == body["default_curve"] and body["setback"] is None
    assert body["samples"][0]["setpoint_c"] == pytest.approx(body["samples"][0]["supply_c"] + 1)

    # A window bounds the readings; one outside the data is empty, not an error.
    short = (await _get(curve_app, "/api/v1/stations/s1/curve",
                        start="2020-01-01T00:00:00Z", end="2020-01-02T00:00:00Z")).json()
    assert short["samples"] == [] and short["bucket_s"] == 60


@pytest.mark.anyio
async def test_curve_rejects_bad_windows(curve_app: FastAPI) -> None:
    for params in ({"start": "2026-01-01T00:00:00"},  # no offset
                   {"start": "2020-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"},
                   {"start": "2022-01-02T00:00:00Z", "end": "2022-01-01T00:00:00Z"}):
        resp = await _get(curve_app, "/api/v1/stations/s1/curve", **params)
        assert resp.status_code == 422, params
    assert (await _get(curve_app, "/api/v1/stations/no%20such/curve")).status_code == 422


@pytest.fixture
def curve_site(make_app: AppFactory, rules_file: Path, readings: int) -> Iterator[str]:
    yield from _serve(make_app(rules=rules_file))


@pytest.mark.timeout(120)
def test_operator_page_draws_the_curve_through_the_readings(
        curve_site: str, browser: WebDriver, readings: int) -> None:
    browser.get(f"{curve_site}/#/stations/s1")
    log_in(browser, KEYS["viewer"])
    chart = wait_for(browser, '[data-chart="curve"] svg.chart.curve')
    assert int(chart.get_attribute("data-points") or 0) == readings
    dots = browser.find_elements("css selector", '[data-chart="curve"] circle.dot')
    assert len(dots) == readings
    line = wait_present(browser, '[data-chart="curve"] polyline[data-curve="calibrated"]')
    assert len((line.get_attribute("points") or "").split()) == 4  # 2 points + clamped ends
    wait_present(browser, '[data-chart="curve"] polyline.default-curve')
    text = wait_for(browser, '[data-chart="curve"]').text
    assert "calibrated curve" in text and "off 23:00-05:00" in text
    assert "setback 4 K 22:00-06:00" in text
    assert script_errors(browser) == []
