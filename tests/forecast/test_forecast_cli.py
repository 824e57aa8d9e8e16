"""``heatwatch forecast fetch`` and ``accuracy`` as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from forecast_helpers import T0, H, issue, writer
from openmeteo_server import OpenMeteoServer, recorded_response

from forecast.store import forecast_lines
from heatwatch.lineproto import format_line
from heatwatch.local.servers import InfluxServer


def heatwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatwatch.cli", "forecast", *args],
                          capture_output=True, text=True, timeout=120)


def test_fetch_prints_the_polled_hours(tmp_path: Path, open_meteo: OpenMeteoServer) -> None:
    hour = time.strftime("%Y-%m-%dT%H:00", time.gmtime(time.time() + 3600))
    open_meteo.answer(recorded_response(hour, [-1.0, -2.5], timezone="GMT", offset_s=0))
    cfg = tmp_path / "forecast.yaml"
    cfg.write_text(f"open_meteo:\n  - {{zone: nis, url: '{open_meteo.url}', latitude: 43.3, "
                   "longitude: 21.9, retries: 0}\n")
    res = heatwatch("fetch", str(cfg))
    assert res.returncode == 0, res.stderr
    assert "zone nis: 2 hours from" in res.stdout
    assert "-2.5 °C" in res.stdout
    res = heatwatch("fetch", str(cfg))  # nothing queued: the server answers 503
    assert res.returncode == 1
    assert "HTTP 503" in res.stderr


def test_accuracy_prints_mae_by_lead(influx: InfluxServer, database: str) -> None:
    write = writer(influx, database)
    write([format_line("telemetry", [("station", "S1"), ("zone", "z1")], {"outdoor_temp": 0.0},
                       round((T0 + k * 600) * 1e9)) for k in range(-3, 12 * 6)])
    write(forecast_lines(issue("z1", T0, [1.0, 2.0, -4.0])))
    write(forecast_lines(issue("z1", T0 + 3 * H, [-1.0, 2.0, -4.0])))
    res = heatwatch("accuracy", "--from", "2026-12-07T00:00:00Z", "--to",
                    "2026-12-07T12:00:00Z", "--influx-url", influx.url, "--database", database)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("2 forecast issues")
    assert lines[2].split() == ["1", "2", "1.00", "+0.00"]
    assert lines[4].split() == ["3", "2", "4.00", "-4.00"]
    res = heatwatch("accuracy", "--from", "2026-12-07T00:00:00Z", "--to",
                    "2026-12-07T12:00:00Z", "--influx-url", influx.url, "--database", database,
                    "--leads", "2")
    assert [ln.split()[0] for ln in res.stdout.splitlines()[2:]] == ["2"]


def test_accuracy_argument_errors() -> None:
    res = heatwatch("accuracy", "--from", "2026-12-07T12:00", "--to", "2026-12-07T00:00")
    assert res.returncode == 2 and "--to must be after --from" in res.stderr
    res = heatwatch("accuracy", "--from", "yesterday", "--to", "2026-12-07T00:00")
    assert res.returncode == 2 and "not an ISO 8601 time" in res.stderr
