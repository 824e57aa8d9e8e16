"""The alert service closes local days into comfort_day by itself: the day-close hook wired
into ``heatwatch alerts`` (real Mosquitto and InfluxDB)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from households_helpers import TZ, meter_lines, registry_yaml, rules_yaml, write
from support import wait_for

from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer
from heatwatch.settings import ConfigError
from households.ledger import day_bounds

pytestmark = pytest.mark.servers


def _config(tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, database: str,
            **extra: object) -> Path:
    config = tmp_path / "alerts.yaml"
    config.write_text(json.dumps({
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": "comfort",
                 "client_id": "alerts-comfort"},
        "influx": {"url": influx.url, "database": database},
        "rules": str(rules_yaml(tmp_path / "rules.yaml")),
        "registry": str(registry_yaml(tmp_path / "stations.yaml")),
        "state_db": str(tmp_path / "alerts.db"),
        "metrics": {"port": 0, "selfstats_interval": 0},
        "warmup": {"enabled": False},
        **extra,
    }))
    return config


def test_the_service_writes_yesterday(tmp_path: Path, mosquitto: MosquittoServer,
                                      influx: InfluxServer, database: str) -> None:
    yesterday = datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)
    a, b = day_bounds(yesterday, TZ)
    write(influx.url, database, meter_lines("S1", "F1", a, b, 16.0))
    config = _config(tmp_path, mosquitto, influx, database,
                     comfort={"grace_s": 0, "catch_up_days": 1, "check_interval_s": 0.2})
    service = AlertsService(load_alerts_settings(config))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: influx.count("comfort_day", "hours", db=database) >= 4, 30,
                 "4 comfort_day points")
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
    f1 = influx.query('SELECT "band", "hours_below" FROM "comfort_day" WHERE "meter" = \'F1\'',
                      db=database)
    assert f1[0]["values"][0][1:] == ["half", (b - a) / 3600]  # type: ignore[index]


def test_a_bad_comfort_file_stops_the_service_at_start(
        tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, database: str) -> None:
    bad = tmp_path / "comfort.yaml"
    bad.write_text("bands: [{name: warm, below_c: 18, share: 0.5}]\n")
    config = _config(tmp_path, mosquitto, influx, database, comfort={"file": str(bad)})
    with pytest.raises(ConfigError, match="reserved"):
        AlertsService(load_alerts_settings(config))
