"""The alerts service runs the forecast cycle: meter readings and a cold forecast over MQTT, a
models file on disk, a planned switch-off in the rules: cold_predicted fires, with the
predictions stored in InfluxDB."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import numpy as np
from forecast_helpers import H, issue
from support import wait_for
from test_forecast_input import publish

from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from forecast.thermal import Models, save_models
from forecast.wire import encode_forecast, forecast_topic
from heatwatch.local.servers import InfluxServer, MosquittoServer
from heatwatch.registry import UNASSIGNED_ZONE


def test_service_cycle_fires_cold_predicted(tmp_path: Path, mosquitto: MosquittoServer,
                                            influx: InfluxServer, database: str) -> None:
    now = time.time()
    zone = UNASSIGNED_ZONE  # no registry: every station's zone
    n = 3
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    save_models(Models(station=["S1"] * n, meter=[f"m{i}" for i in range(n)], zone=[zone] * n,
                       a=(b * 36.0 - c) / 30.7, b=b, c=c,
                       err=np.full((n, 12), 0.3, dtype=np.float32), windows=np.full(n, 50),
                       step_s=3600.0, fitted_from=0.0, fitted_to=1.0), tmp_path / "m.npz")
    local = dt.datetime.fromtimestamp(now, dt.UTC)
    start = (local + dt.timedelta(minutes=30)).strftime("%H:%M")
    end = (local + dt.timedelta(hours=8)).strftime("%H:%M")
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps({
        "pipeline": {"enabled": False},
        "defaults": {"heating": {"timezone": "UTC", "season_start": "01-01",
                                 "season_end": "12-31",
                                 "off_windows": [{"start": start, "end": end}]}}}))
    forecast_file = tmp_path / "forecast.yaml"
    forecast_file.write_text(json.dumps({
        "mqtt": {"enabled": True}, "store": {"enabled": False},
        "model": {"path": str(tmp_path / "m.npz"), "refit_every_s": 0, "cycle_s": 60}}))
    issued = now // H * H
    publish(mosquitto, forecast_topic("alfm", zone),
            encode_forecast(issue(zone, issued, [-22.0] * 16)))
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "alfm",
              "client_id": "alerts-fm"},
        influx={"url": influx.url, "database": database},
        rules=rules, forecast=forecast_file, state_db=tmp_path / "alerts.db",
        evaluate_interval_s=0.2, metrics={"port": 0}, warmup={"enabled": False},
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        book = service.forecast_book
        assert book is not None
        wait_for(lambda: book.latest(zone) is not None)
        ts = dt.datetime.fromtimestamp(time.time(), dt.UTC).isoformat()
        for i in range(n):
            publish(mosquitto, f"alfm/S1/meter/m{i}",
                    json.dumps({"ts": ts, "indoor_temp": 21.0}).encode())
        publish(mosquitto, "alfm/S1/telemetry", json.dumps({
            "ts": ts, "supply_temp": 51.7, "return_temp": 40.0, "heat_power": 300.0,
            "outdoor_temp": -15.0}).encode())
        # the first cycle ran before the readings (nothing known yet): tried again in 10 s
        assert service.forecast_cycle is not None
        wait_for(lambda: service.engine.has_open("cold_predicted"), timeout=60.0)
        subjects = sorted(a.subject for a in service.engine.open_alerts()
                          if a.rule == "cold_predicted")
        assert subjects == ["m0", "m1", "m2", zone]
        zone_alert = next(a for a in service.engine.open_alerts() if a.subject == zone)
        # the planned switch-off to the minute, not the prediction step it falls in
        assert zone_alert.annotations["action"] == f"do not switch off S1 at {start}"
        wait_for(lambda: influx.count("indoor_forecast", "median_c", db=database) >= 12)
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
