"""heatwatch.local.processes: config files from the services' settings models, and children."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from alerts.settings import AlertsSettings, NotifySettings, load_alerts_settings
from api.config import ApiKey, ApiSettings, load_api_settings
from collector.config import CollectorSettings, SpoolSettings, load_collector_settings
from heatwatch.local.processes import Child, heatwatch_argv, settings_data, write_settings
from heatwatch.settings import InfluxSettings, MqttSettings


def test_a_written_collector_config_loads_back_and_holds_only_what_was_set(
    tmp_path: Path,
) -> None:
    settings = CollectorSettings(
        mqtt=MqttSettings(port=18830, client_id="c1", password=SecretStr("s3cret")),
        influx=InfluxSettings(url="http://127.0.0.1:18086", database="db1"),
        spool=SpoolSettings(dir=tmp_path / "spool", retry_max_delay=2.0),
    )
    path = write_settings(tmp_path / "collector.yaml", settings)
    assert load_collector_settings(path) == settings
    data = yaml.safe_load(path.read_text())
    # The secret in clear (the file is the service's own config), defaults left out.
    assert data["mqtt"] == {"port": 18830, "client_id": "c1", "password": "s3cret"}
    assert data["spool"] == {"dir": str(tmp_path / "spool"), "retry_max_delay": 2.0}
    assert set(data) == {"mqtt", "influx", "spool"}


def test_alerts_and_api_configs_load_back(tmp_path: Path) -> None:
    alerts = AlertsSettings(
        state_db=tmp_path / "alerts.db", evaluate_interval_s=0.5, clock="event",
        warmup={"enabled": False},  # type: ignore[arg-type]  # a dict is validated too
        notifications=NotifySettings.model_validate(
            {"webhooks": {"w": {"url": "http://127.0.0.1:1/hook",
                                "headers": {"Authorization": "Bearer t0ken"}}}}),
    )
    path = write_settings(tmp_path / "alerts.yaml", alerts)
    assert load_alerts_settings(path) == alerts
    assert "Bearer t0ken" in path.read_text()
    api = ApiSettings(keys=(ApiKey(name="k", role="admin", sha256="a" * 64),),
                      alerts_db=tmp_path / "a.db")
    path = write_settings(tmp_path / "api.yaml", api)
    assert load_api_settings(path) == api
    assert settings_data(api)["keys"] == [{"name": "k", "role": "admin", "sha256": "a" * 64}]


def test_a_wrong_key_fails_where_the_config_is_built() -> None:
    with pytest.raises(ValidationError, match="flush_intervall"):
        CollectorSettings(batch={"flush_intervall": 0.2})  # type: ignore[arg-type]


def _wait_lines(child: Child, n: int) -> list[str]:
    deadline = time.monotonic() + 20
    while len(lines := child.log_text().split()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_child_stops_cleanly_and_kills_its_whole_group(tmp_path: Path) -> None:
    # The child starts a grandchild (as a service may) and prints its pid.
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(p.pid, flush=True); time.sleep(60)")
    child = Child("sleeper", [sys.executable, "-c", code], tmp_path / "child.log",
                  own_group=True)
    assert child.stop() is None  # never started
    child.start()
    grandchild = int(_wait_lines(child, 1)[0])
    assert child.alive()
    child.kill()
    assert not child.alive()
    assert child.proc is not None and child.proc.returncode == -signal.SIGKILL
    assert _gone(grandchild)
    child.start()  # the same child again, appending to its log
    _wait_lines(child, 2)
    assert child.stop(timeout=10) == -signal.SIGTERM


def test_heatwatch_argv_runs_this_interpreter() -> None:
    assert heatwatch_argv("collect", "-c", "x.yaml") == [
        sys.executable, "-m", "heatwatch.cli", "collect", "-c", "x.yaml"]
