"""``heatwatch rules calibrate`` end to end on the real InfluxDB with simulated stations."""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from calibrate_helpers import TZ, Truth, line_protocol, simulate

from alerts.calibrate import curve_at
from alerts.calibrate_cli import calibrate_fleet
from alerts.config import RulesConfig, load_rules
from alerts.history import HistorySource
from alerts.rules_cli import add_arguments, main
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings

START = dt.datetime(2026, 1, 5, tzinfo=TZ)
CAL_DAYS, CHECK_DAYS = 20, 3


@pytest.fixture
def stored(influx: InfluxServer, database: str) -> InfluxSettings:
    """S1: 23 days of 15-minute data; S2: 4 days only (too little to calibrate)."""
    lines = line_protocol(simulate("S1", START, CAL_DAYS + CHECK_DAYS, spacing_s=900))
    lines += line_protocol(simulate("S2", START, 4, spacing_s=900, seed=7))
    for i in range(0, len(lines), 5000):
        resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "s"},
                          content="\n".join(lines[i:i + 5000]), timeout=60)
        assert resp.status_code == 204, resp.text
    return InfluxSettings(url=influx.url, database=database)


def _minutes_apart(a: dt.time, b: dt.time) -> int:
    d = abs((a.hour - b.hour) * 60 + a.minute - b.minute)
    return min(d, 1440 - d)


def _args(stored: InfluxSettings, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    end = START + dt.timedelta(days=CAL_DAYS)
    return parser.parse_args([
        "calibrate", "--from", START.isoformat(), "--to", end.isoformat(),
        "--influx-url", stored.url, "--database", stored.database, "--timezone",
        "Europe/Belgrade", *extra,
    ])


@pytest.mark.timeout(600)
def test_calibrates_writes_a_loadable_file_and_prints_the_table(
        stored: InfluxSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stations.yaml"
    assert main(_args(stored, "-o", str(out), "--step", "60")) == 0
    captured = capsys.readouterr()
    assert "S2: not calibrated: " in captured.err and "need 200" in captured.err
    rules = load_rules(out)
    assert set(rules.stations) == {"S1"}
    p = rules.params_for("nis", "S1")
    assert p.supply_below_curve.calibrated_curve is not None
    assert [(w.start, w.end) for w in p.heating.off_windows] == [
        (Truth().off_start, Truth().off_end)]
    # Through InfluxDB and the file, the known curve and windows come back.
    assert p.supply_below_curve.calibrated_curve is not None
    points = tuple((c.outdoor_c, c.supply_c) for c in p.supply_below_curve.calibrated_curve)
    x = np.linspace(-4.0, 8.0, 100)  # well inside the simulated outdoor range
    assert np.max(np.abs(curve_at(x, points) - curve_at(x, Truth().curve))) <= 1.5
    assert abs(p.heating.setback_k - Truth().setback_k) <= 1.5
    assert p.heating.setback_start is not None and p.heating.setback_end is not None
    assert _minutes_apart(p.heating.setback_start, Truth().setback_start) <= 30
    assert _minutes_apart(p.heating.setback_end, Truth().setback_end) <= 30
    assert p.station_offline.min_timeout_s == 2700  # 3 x 15 min
    text = out.read_text()
    assert "setback_start: \"22:00\"" in text  # times of day quoted
    assert "# S2: not calibrated:" in text and "RMSE" in text
    # The before/after table: both windows, both rule sets, the default's night alerts gone.
    table = captured.out
    assert "calibration default" in table and "check calibrated" in table
    assert "station-days" in table
    totals = next(line for line in table.splitlines() if line.startswith("S1 ")
                  and "(all)" in line).split()
    before, after = int(totals[3].strip("()")), int(totals[5].strip("()"))
    assert before > after


def test_exit_codes(stored: InfluxSettings, capsys: pytest.CaptureFixture[str]) -> None:
    # Only a station with too little data: nothing calibrated, exit 1, and why.
    assert main(_args(stored, "--station", "S2", "--no-check")) == 1
    err = capsys.readouterr().err
    assert "S2: not calibrated:" in err and "no station could be calibrated" in err
    assert main(_args(stored, "--station", "nope", "--no-check")) == 1
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    backwards = parser.parse_args(["calibrate", "--from", "2026-02-01T00:00:00Z", "--to",
                                   "2026-01-01T00:00:00Z"])
    assert main(backwards) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    dead = parser.parse_args(["calibrate", "--from", "2026-01-01T00:00:00Z", "--to",
                              "2026-02-01T00:00:00Z", "--influx-url",
                              f"http://127.0.0.1:{free_port()}"])
    assert main(dead) == 1
    assert "InfluxDB" in capsys.readouterr().err
    assert main(_args(stored, "--timezone", "Mars/Olympus")) == 2


def test_subprocess_writes_the_file_to_stdout(stored: InfluxSettings, tmp_path: Path) -> None:
    end = START + dt.timedelta(days=CAL_DAYS)
    proc = subprocess.run(
        [sys.executable, "-m", "heatwatch.cli", "rules", "calibrate", "--from",
         START.isoformat(), "--to", end.isoformat(), "--station", "S1", "--no-check",
         "--influx-url", stored.url, "--database", stored.database,
         "--timezone", "Europe/Belgrade"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# heatwatch rules calibrate")
    path = tmp_path / "out.yaml"
    path.write_text(proc.stdout)
    assert "S1" in load_rules(path).stations
    assert "S1: curve" in proc.stderr


def test_python_api_for_the_benchmark(stored: InfluxSettings) -> None:
    source = HistorySource(stored)
    try:
        fleet = calibrate_fleet(source, RulesConfig(), START.timestamp(),
                                (START + dt.timedelta(days=CAL_DAYS)).timestamp(),
                                timezone="Europe/Belgrade", options={"min_nights": 5})
    finally:
        source.close()
    assert [c.station for c in fleet.calibrations] == ["S1"]
    assert fleet.refused["S2"].endswith("heating-hours with outdoor data, need 200")
    rules = fleet.rules(RulesConfig())
    assert rules.params_for("nis", "S1").supply_below_curve.calibrated_curve is not None
    assert "S1:" in fleet.text(["header"])
