"""GET /api/v1/forecast on the real InfluxDB, from what the forecast cycle stores."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from api_helpers import auth

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.store import Store
from forecast.cycle import ForecastCycle
from forecast.settings import ModelSettings
from forecast.thermal import Models, save_models
from forecast.weather import ForecastBook, ForecastPoint, WeatherForecast
from heatwatch.local.servers import InfluxServer
from heatwatch.registry import Registry
from heatwatch.wire import Kind, Reading

pytestmark = pytest.mark.anyio
TZ = "Europe/Helsinki"  # the app's default rules


def _cycle_lines(tmp_path: Path, now: float) -> list[str]:
    """One forecast cycle of station s1 (four flats), switched off an hour from now on a
    -22 °C night."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(TZ))
    off_start = (local + dt.timedelta(hours=1)).strftime("%H:%M")
    off_end = (local + dt.timedelta(hours=8)).strftime("%H:%M")
    rules = RulesConfig.model_validate({"defaults": {"heating": {
        "timezone": TZ, "season_start": "01-01", "season_end": "12-31",
        "off_windows": [{"start": off_start, "end": off_end}]}}})
    registry = Registry.model_validate({"stations": [{"id": "s1", "zone": "north"}]})
    engine = Engine(rules, Store(":memory:"), clock=lambda: now, registry=registry)
    n = 4
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    save_models(Models(station=["s1"] * n, meter=[f"f{i + 1}" for i in range(n)],
                       zone=["north"] * n, a=(b * 36.0 - c) / 30.7, b=b, c=c,
                       err=np.full((n, 12), 0.3, dtype=np.float32), windows=np.full(n, 50),
                       step_s=3600.0, fitted_from=0.0, fitted_to=1.0), tmp_path / "m.npz")
    for i in range(n):
        engine.observe(Reading(Kind.METER, "s1", round((now - 60) * 1e9), {"indoor_temp": 21.0},
                               meter=f"f{i + 1}"))
    book = ForecastBook()
    book.put(WeatherForecast("north", now - 600, "sim", tuple(
        ForecastPoint(now - 600 + 3600 * k, -15.0 if k < 2 else -22.0) for k in range(20))))
    written: list[list[str]] = []
    cycle = ForecastCycle(ModelSettings(path=tmp_path / "m.npz"), rules, book, written.append)
    engine.evaluate(now)
    assert cycle.run(now, engine.fleet) is not None
    return written[0]


async def test_forecast_per_zone_and_flat(tmp_path: Path, client: httpx.AsyncClient,
                                          influx: InfluxServer, database: str) -> None:
    now = float(int(time.time()))
    lines = _cycle_lines(tmp_path, now)
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content="\n".join(lines).encode())
    assert resp.status_code == 204, resp.text
    r = await client.get("/api/v1/forecast", headers=auth("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    (zone,) = body["zones"]
    assert zone["zone"] == "north" and [p["lead_h"] for p in zone["points"]] == list(
        range(1, 13))
    assert zone["points"][0]["median_c"] > zone["points"][-1]["median_c"]
    assert zone["points"][-1]["share_below"] == 1.0
    assert dt.datetime.fromisoformat(zone["issued_at"]).timestamp() == now
    flats = body["flats"]
    assert sorted(f["meter"] for f in flats) == ["f1", "f2", "f3", "f4"]
    f = flats[0]
    assert f["below_at"] is not None and f["p_below"] > 0.8 and f["min_c"] < 18.0
    assert f["action"].startswith("do not switch off s1 at ")
    only = (await client.get("/api/v1/forecast", params={"station": "s2"},
                             headers=auth("viewer"))).json()
    assert only["flats"] == [] and [z["zone"] for z in only["zones"]] == ["north"]
    south = (await client.get("/api/v1/forecast", params={"zone": "south"},
                              headers=auth("viewer"))).json()
    assert south == {"zones": [], "flats": []}


async def test_forecast_without_predictions(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/forecast", headers=auth("viewer"))
    assert r.status_code == 200 and r.json() == {"zones": [], "flats": []}
