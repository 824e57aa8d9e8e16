"""The alerts service starts the forecast input when its forecast file is set."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from forecast_helpers import H, issue, querier
from support import wait_for
from test_forecast_input import publish

from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from forecast.store import load_forecasts
from forecast.wire import encode_forecast, forecast_topic
from heatwatch.local.servers import InfluxServer, MosquittoServer
from heatwatch.settings import ConfigError


def test_alerts_service_runs_the_forecast_input(tmp_path: Path, mosquitto: MosquittoServer,
                                                influx: InfluxServer, database: str) -> None:
    issued = time.time() // H * H
    f = issue("north", issued, [-6.0, -7.0, -8.0])
    publish(mosquitto, forecast_topic("alfc", "north"), encode_forecast(f))
    forecast_file = tmp_path / "forecast.yaml"
    forecast_file.write_text("mqtt: {enabled: true}\nstore: {enabled: true}\n")
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "alfc",
              "client_id": "alerts-fc"},
        influx={"url": influx.url, "database": database},
        forecast=forecast_file, state_db=tmp_path / "alerts.db", evaluate_interval_s=0.2,
        metrics={"port": 0}, warmup={"enabled": False},
    )
    service = AlertsService(settings)
    assert service.forecast_book is not None
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        book = service.forecast_book
        wait_for(lambda: book.latest("north") == f)
        wait_for(lambda: load_forecasts(querier(influx, database), issued, issued + 5 * H)
                 == [f])
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_no_forecast_file_no_book(tmp_path: Path) -> None:
    service = AlertsService(load_alerts_settings(None, state_db=tmp_path / "a.db"))
    assert service.forecast_book is None


def test_forecast_file_errors_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="forecast"):
        load_alerts_settings(None, forecast=tmp_path / "missing.yaml")
    bad = tmp_path / "forecast.yaml"
    bad.write_text("open_meteo: [{zone: z}]\n")
    settings = load_alerts_settings(None, forecast=bad, state_db=tmp_path / "a.db")
    with pytest.raises(ConfigError, match=r"open_meteo\.0\.latitude"):
        AlertsService(settings)
    bad.write_text("store: {enabled: true}\n")
    v2 = load_alerts_settings(None, forecast=bad, state_db=tmp_path / "b.db", write_events=False,
                              comfort={"enabled": False},
                              influx={"transport": "v2", "org": "o", "bucket": "b", "token": "t"})
    with pytest.raises(ConfigError, match="transport v1"):
        AlertsService(v2)
