"""The ledger from stored readings on the real InfluxDB: comfort_day points, the report
command (csv, xlsx) and the alert service's day-close hook."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from households_helpers import (
    DAY,
    REGISTRY,
    RULES,
    TZ,
    day_lines,
    registry_yaml,
    rules_yaml,
    write,
)
from openpyxl import load_workbook

from alerts.history import HistorySource, HistoryUnavailable
from alerts.notify.influx import AlertEventSink
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings
from households.closer import DayCloser
from households.compute import day_rows, period_rows, read_samples, write_rows
from households.config import ComfortConfig, DayCloseSettings
from households.ledger import day_bounds

pytestmark = pytest.mark.servers
CFG = ComfortConfig(fee_per_m2_day=0.2)


@pytest.fixture
def source(influx: InfluxServer, database: str) -> HistorySource:
    write(influx.url, database, day_lines())
    return HistorySource(InfluxSettings(url=influx.url, database=database))


def test_day_rows_from_stored_readings(source: HistorySource) -> None:
    rows = {r.meter: r for r in day_rows(source.query, REGISTRY, RULES, CFG, "north", DAY)}
    assert sorted(rows) == ["F1", "F2", "F3", "G1", "X9"]
    f1 = rows["F1"].comfort
    assert (f1.hours, f1.hours_data, f1.hours_below, f1.band) == (25.0, 25.0, 25.0, "half")
    assert rows["F1"].refund == pytest.approx(0.5 * 0.2 * 60)
    assert rows["F2"].comfort.band == "warm" and rows["F2"].refund == 0
    assert rows["F3"].comfort.band == "no_data" and rows["F3"].comfort.hours_data == 0
    assert rows["G1"].comfort.band == "full" and rows["G1"].refund == pytest.approx(10.0)
    assert rows["X9"].comfort.band == "full" and rows["X9"].refund is None  # unregistered
    only_s2 = day_rows(source.query, REGISTRY, RULES, CFG, "north", DAY, station="S2")
    assert [r.meter for r in only_s2] == ["G1"]


def test_read_samples_pages_in_time_order(source: HistorySource) -> None:
    a, b = day_bounds(DAY, TZ)
    whole = read_samples(source.query, a, b, zone="north")
    paged = read_samples(source.query, a, b, zone="north", page=7)
    assert paged == whole
    assert len(whole[("S1", "F1")]) == 25 * 12


def test_comfort_day_points_round_trip(influx: InfluxServer, database: str,
                                       source: HistorySource) -> None:
    rows = list(period_rows(source.query, REGISTRY, RULES, CFG, DAY, DAY + timedelta(days=1)))
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=database))
    assert write_rows(sink.write_lines, rows, 18.0) == 5
    # written twice (a recompute): the points overwrite, no second series
    assert write_rows(sink.write_lines, rows, 18.0) == 5
    series = influx.query('SELECT * FROM "comfort_day" GROUP BY "meter"', db=database)
    assert len(series) == 5
    by_meter = {s["tags"]["meter"]: dict(zip(s["columns"], s["values"][0], strict=True))  # type: ignore[index]
                for s in series}
    f1 = by_meter["F1"]
    assert f1["time"] == round(day_bounds(DAY, TZ)[0] * 1e9)
    assert (f1["band"], f1["below_standard"], f1["hours"], f1["area_m2"]) == ("half", 1, 25.0,
                                                                             60.0)
    assert f1["refund"] == pytest.approx(6.0)
    assert by_meter["F3"]["mean_c"] is None and by_meter["F3"]["band"] == "no_data"
    assert by_meter["X9"]["refund"] is None


def _settings(tmp_path: Path, influx: InfluxServer, database: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"influx: {{url: '{influx.url}', database: {database}}}\n"
        f"rules: {rules_yaml(tmp_path / 'rules.yaml')}\n"
        f"registry: {registry_yaml(tmp_path / 'stations.yaml')}\n")
    return path


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatwatch.cli", "report", "comfort", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_report_csv_and_xlsx(tmp_path: Path, influx: InfluxServer, database: str,
                             source: HistorySource) -> None:
    cfg = _settings(tmp_path, influx, database)
    comfort = tmp_path / "comfort.yaml"
    comfort.write_text("fee_per_m2_day: 0.2\n")
    common = ["-c", str(cfg), "--comfort", str(comfort), "--from", "2026-10-24",
              "--to", "2026-10-27"]
    done = _report(*common, "--zone", "north")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    # 5 flats x 3 days; only the 25th has readings
    assert len(rows) == 15
    assert {(r["day"], r["meter"]): r["band"] for r in rows if r["day"] == "2026-10-25"} == {
        ("2026-10-25", "F1"): "half", ("2026-10-25", "F2"): "warm",
        ("2026-10-25", "F3"): "no_data", ("2026-10-25", "G1"): "full",
        ("2026-10-25", "X9"): "full"}
    # 10 days have no data, the hour before the 25th counts for nothing on the 24th
    assert "15 flat-days: 11 with too little data (73.3%)" in done.stderr
    assert "refund 16.00 CNY (1 refund days of flats without area_m2 not priced)" in done.stderr

    done = _report(*common, "--by", "station")
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["station"], r["flat_days"], r["no_data"], r["half"], r["full"], r["refund"])
            for r in table] == [("S1", "12", "9", "1", "1", "6.0"),
                                ("S2", "3", "2", "0", "1", "10.0")]

    out = tmp_path / "comfort.xlsx"
    done = _report(*common, "--station", "S2", "--format", "xlsx", "-o", str(out), "--write")
    assert done.returncode == 0, done.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == ["flat", "station", "zone", "company"]
    company = list(wb["company"].values)
    assert company[0][:4] == ("company", "flat_days", "no_data", "warm")
    assert company[1][:4] == ("all", 3, 2, 0)
    assert "3 comfort_day points written" in done.stderr
    assert influx.count("comfort_day", "hours", db=database) == 3


def test_report_refuses_bad_arguments(tmp_path: Path, influx: InfluxServer,
                                      database: str) -> None:
    cfg = _settings(tmp_path, influx, database)
    done = _report("-c", str(cfg), "--from", "2026-10-25", "--to", "2026-10-25")
    assert done.returncode == 2 and "--to must be after --from" in done.stderr
    done = _report("-c", str(cfg), "--from", "2026-10-25", "--to", "2026-10-26",
                   "--format", "xlsx")
    assert done.returncode == 2 and "needs -o FILE" in done.stderr
    done = _report("-c", str(cfg), "--from", "2026-10-25", "--to", "2026-10-26",
                   "--influx-url", "http://127.0.0.1:9")
    assert done.returncode == 1 and "InfluxDB" in done.stderr


def test_day_closer_writes_closed_days_once_and_retries(influx: InfluxServer, database: str,
                                                        source: HistorySource) -> None:
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=database))
    settings = DayCloseSettings(grace_s=900, catch_up_days=1)
    closer = DayCloser(source.query, sink.write_lines, REGISTRY, RULES, CFG, settings,
                       errors=(HistoryUnavailable,))
    _a, b = day_bounds(DAY, TZ)
    # the 25th closed, but within the grace: only the 24th (the catch-up) is closed
    assert closer.tick(b + 600) == 5
    assert closer.tick(b + 1000) == 5  # now the 25th
    assert closer.tick(b + 2000) == 0  # done
    # InfluxDB gone: logged and retried, not raised
    down = HistorySource(InfluxSettings(url="http://127.0.0.1:9", database=database))
    broken = DayCloser(down.query, sink.write_lines, REGISTRY, RULES, CFG, settings,
                       errors=(HistoryUnavailable,))
    assert broken.tick(b + 1000) == 0 and broken.failures == 1
    day = influx.query('SELECT "band" FROM "comfort_day" WHERE "meter" = \'G1\'', db=database)
    assert [v[1] for v in day[0]["values"]] == ["no_data", "full"]  # type: ignore[index]
