"""``heatwatch api serve`` for real: uvicorn on a loopback port, real InfluxDB and Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from api_helpers import fill_fleet

from api.config import DEV_KEY, ApiSettings, CacheSettings
from heatwatch.local.processes import write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port, wait_for_port


def test_serve_command(
    tmp_path: Path, influx: InfluxServer, database: str, mosquitto: MosquittoServer
) -> None:
    fill_fleet(influx, database)
    port = free_port()
    config = write_settings(tmp_path / "api.yaml", ApiSettings(
        dev_mode=True,
        alerts_db=tmp_path / "alerts.db",
        influx=influx.settings(database),
        mqtt=mosquitto.settings("heatwatch-api"),
        cache=CacheSettings(ready_wait_s=30.0),  # the list, not a 503, even on a loaded machine
    ))
    env = {**os.environ, "HEATWATCH_SERVER__PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatwatch.cli", "api", "serve", "-c", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz", timeout=10).json()["ready"] is True
        headers = {"Authorization": f"Bearer {DEV_KEY}"}
        listed = httpx.get(f"{base}/api/v1/stations", headers=headers, timeout=10).json()
        # No registry configured: the stations seen in the data, all in zone "unassigned".
        assert [s["id"] for s in listed["items"]] == ["ghost", "s1", "s2", "s3", "s4"]
        assert {s["zone"] for s in listed["items"]} == {"unassigned"}
        assert httpx.get(f"{base}/api/v1/stations", timeout=10).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    # uvicorn shuts down cleanly on SIGTERM, then exits by the signal it caught
    assert proc.returncode in (0, -15), out.decode(errors="replace")[-2000:]
    assert b"Application shutdown complete" in out
    assert b"dev_mode is on" in out
    assert b"HTTP Request" not in out  # no log line per InfluxDB query
