"""The forecast cycle as the alerts service runs it: state from the engine's fleet, the weather
from the forecast book, risks to cold_predicted, predictions stored in the real InfluxDB and
read back with the dashboard's and the API's queries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np

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

TZ = ZoneInfo("Asia/Shanghai")


def _setup(tmp_path: Path, night_c: float) -> tuple[Engine, ForecastCycle, list[list[str]], float]:
    rules = RulesConfig.model_validate({
        "pipeline": {"startup_grace_s": 0, "enabled": False},
        "defaults": {"heating": {"timezone": "Asia/Shanghai", "season_start": "10-15",
                                 "season_end": "04-15",
                                 "off_windows": [{"start": "22:00", "end": "05:00"}]}}})
    registry = Registry.model_validate({"stations": [{"id": "S1", "zone": "north"}]})
    engine = Engine(rules, Store(":memory:"), clock=lambda: 0.0, registry=registry)
    n = 4
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    models = Models(station=["S1"] * n, meter=[f"m{i}" for i in range(n)], zone=["north"] * n,
                    a=(b * 36.0 - c) / 30.7, b=b, c=c,
                    err=np.full((n, 12), 0.3, dtype=np.float32), windows=np.full(n, 50),
                    step_s=3600.0, fitted_from=0.0, fitted_to=1.0)
    path = tmp_path / "models.npz"
    save_models(models, path)
    now = dt.datetime(2026, 12, 7, 19, 0, tzinfo=TZ).timestamp()
    for i in range(n):
        engine.observe(Reading(Kind.METER, "S1", round((now - 60) * 1e9),
                               {"indoor_temp": 21.0}, meter=f"m{i}"))
    engine.observe(Reading(Kind.TELEMETRY, "S1", round((now - 30) * 1e9),
                           {"supply_temp": 51.7, "return_temp": 40.0, "heat_power": 300.0,
                            "outdoor_temp": -15.0}))
    book = ForecastBook()
    book.put(WeatherForecast("north", now - 600, "sim", tuple(
        ForecastPoint(now - 600 + 3600 * k, -15.0 if k < 3 else night_c) for k in range(20))))
    written: list[list[str]] = []
    cycle = ForecastCycle(ModelSettings(path=path), rules, book, written.append)
    return engine, cycle, written, now


def test_cycle_predicts_from_the_fleet_and_fires_cold_predicted(tmp_path: Path) -> None:
    engine, cycle, written, now = _setup(tmp_path, -22.0)
    engine.evaluate(now)
    assert cycle.due(now)
    risks = cycle.run(now, engine.fleet)
    assert risks is not None and not cycle.due(now + 60)
    assert risks.zones[0].share_peak == 1.0
    assert risks.zones[0].actions == ("do not switch off S1 at 22:00",)
    engine.observe_forecast(risks)
    events = engine.evaluate(now + 1)
    assert sorted(e.alert.subject for e in events) == ["m0", "m1", "m2", "m3", "north"]
    lines = written[0]
    assert sum(ln.startswith("indoor_forecast,zone=north,lead=") for ln in lines) == 12
    assert sum(ln.startswith("indoor_forecast_flat,") for ln in lines) == 4


def test_mild_night_no_alert(tmp_path: Path) -> None:
    engine, cycle, written, now = _setup(tmp_path, 8.0)
    engine.evaluate(now)
    risks = cycle.run(now, engine.fleet)
    assert risks is not None
    engine.observe_forecast(risks)
    assert engine.evaluate(now + 1) == []
    assert not any(ln.startswith("indoor_forecast_flat,") for ln in written[0])


def test_no_models_file_no_cycle(tmp_path: Path) -> None:
    engine, cycle, _, now = _setup(tmp_path, -22.0)
    cycle.settings = ModelSettings(path=tmp_path / "missing.npz")
    cycle.models = None
    assert cycle.run(now, engine.fleet) is None


def test_predictions_stored_and_read_back(tmp_path: Path, influx: InfluxServer,
                                          database: str) -> None:
    """What the Grafana panel and GET /api/v1/forecast read, from the real InfluxDB."""
    from dashboards.zone import FORECAST_QUERY

    engine, cycle, written, now = _setup(tmp_path, -22.0)
    engine.evaluate(now)
    assert cycle.run(now, engine.fleet) is not None
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content="\n".join(written[0]).encode())
    assert resp.status_code == 204, resp.text
    q = (FORECAST_QUERY.replace("$zone", "north").replace("$lead", "6h")
         .replace("$timeFilter", f"time >= {int((now - 3600) * 1e9)} AND time <= "
                                 f"{int((now + 86400) * 1e9)}")
         .replace("$__interval", "15m"))
    rows = influx.query(q, db=database)
    values = [v for s in rows for v in s.get("values", []) if v[1] is not None]  # type: ignore[union-attr]
    assert len(values) == 1  # the one 6 h-ahead point of this cycle
    assert 15.0 < float(values[0][1]) < 21.0


def test_a_station_that_runs_through_cold_nights_is_not_predicted_cold(tmp_path: Path) -> None:
    """The refit learned that S1 keeps heating on nights under -10 °C: a -22 °C night with its
    22:00 switch-off planned is predicted warm."""
    from forecast.thermal import load_models

    engine, cycle, _, now = _setup(tmp_path, -22.0)
    path = cycle.settings.path
    models = load_models(path)
    models.run_through = {"S1": -10.0}
    save_models(models, path)
    cycle.models = None
    engine.evaluate(now)
    risks = cycle.run(now, engine.fleet)
    assert risks is not None and risks.zones[0].share_peak == 0.0
    engine.observe_forecast(risks)
    assert engine.evaluate(now + 1) == []
