"""No service starts with a ``change-me`` secret (issue 13, item 17).

``.env.example`` used to ship ``change-me-...`` values, and a stack started from an unedited
copy ran with passwords anyone who read the repository knew. ``.env.example`` now leaves every
secret empty (compose refuses to start, tests/deploy/test_compose.py), and every service checks
at start that no secret setting, from the file or from the environment, is a ``change-me``
placeholder: it exits with code 2 (configuration error, not restarted by systemd) and names
the key and the variable, never the value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from heatwatch.local.servers import free_port

SERVICES = {
    "collect": {"dead_letter": {"publish": False}},
    "alerts": {},
    "api": {"keys": [{"name": "k", "role": "admin", "sha256": "0" * 64}]},
}


@pytest.mark.parametrize(("command", "variable", "key"), [
    ("collect", "HEATWATCH_MQTT__PASSWORD", "mqtt.password"),
    ("alerts", "HEATWATCH_INFLUX__TOKEN", "influx.token"),
    ("api", "HEATWATCH_INFLUX__PASSWORD", "influx.password"),
])
def test_service_refuses_a_change_me_secret(
    tmp_path: Path, command: str, variable: str, key: str
) -> None:
    cfg = {**SERVICES[command], "mqtt": {"host": "127.0.0.1", "port": free_port()}}
    if command == "collect":
        cfg |= {"spool": {"dir": str(tmp_path / "spool")},
                "dead_letter": {"file": str(tmp_path / "dl.jsonl"), "publish": False}}
    if command == "alerts":
        cfg["state_db"] = str(tmp_path / "alerts.db")
    if command == "api":
        cfg["alerts_db"] = str(tmp_path / "alerts.db")
    path = tmp_path / f"{command}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEATWATCH_")}
    env[variable] = "Change-Me-to-a-long-random-secret"
    result = subprocess.run(
        [sys.executable, "-m", "heatwatch.cli", command, *(["serve"] if command == "api" else []),
         "-c", str(path)], env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{key}: still a change-me placeholder" in result.stderr
    assert variable in result.stderr
    assert "Change-Me-to" not in result.stderr + result.stdout
