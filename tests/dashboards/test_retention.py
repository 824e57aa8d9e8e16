"""Retention policies and hourly continuous queries on the real InfluxDB 1.6 (heatwatch.retention).

The continuous query is proven by the CQ service itself (run every second for the test), not by
running its SELECT by hand; backfill is checked value by value (mean, min, max, last, tags).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from heatwatch.local.servers import InfluxServer
from heatwatch.retention import RetentionSettings, apply_retention, backfill, continuous_queries

pytestmark = pytest.mark.servers


def _write(influx: InfluxServer, db: str, lines: list[str]) -> None:
    resp = httpx.post(f"{influx.url}/write", params={"db": db}, content="\n".join(lines))
    resp.raise_for_status()


def _policies(influx: InfluxServer, db: str) -> dict[str, tuple[str, bool]]:
    (series,) = influx.query(f'SHOW RETENTION POLICIES ON "{db}"')
    cols = series["columns"]
    assert isinstance(cols, list)
    rows = series["values"]
    assert isinstance(rows, list)
    i_dur, i_def = cols.index("duration"), cols.index("default")
    return {r[0]: (r[i_dur], r[i_def]) for r in rows}


def test_policies_and_queries_are_created_idempotently(influx: InfluxServer) -> None:
    db = "retention_setup"
    settings = RetentionSettings()
    influx.create_database(db, settings)
    _write(influx, db, ["telemetry,station=a supply_temp=60"])
    influx.create_database(db, settings)  # a second start: ALTER, DROP + CREATE, no error
    assert _policies(influx, db) == {
        "autogen": ("2160h0m0s", True),  # 90 days, still the default: old queries still work
        "hourly": ("43680h0m0s", False),  # 260 weeks
    }
    assert influx.count("telemetry", "supply_temp", db=db) == 1  # nothing hidden
    cqs = {s["name"]: s.get("values", []) for s in influx.query("SHOW CONTINUOUS QUERIES")}
    rows = cqs[db]
    assert isinstance(rows, list)
    names = sorted(row[0] for row in rows)
    assert names == sorted(continuous_queries(db, settings))
    shorter = RetentionSettings(raw_duration="30d", hourly_duration="INF")
    influx.create_database(db, shorter)
    assert _policies(influx, db) == {"autogen": ("720h0m0s", True), "hourly": ("0s", False)}


def test_the_cq_service_writes_hourly_means(influx: InfluxServer) -> None:
    db = "retention_cq"
    influx.create_database(db, RetentionSettings(resample_every="1s"))
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    t = int((hour + timedelta(minutes=30)).timestamp())
    _write(influx, db, [
        f"telemetry,station=a,zone=n supply_temp=60,pump_running=true {t}000000000",
        f"telemetry,station=a,zone=n supply_temp=70,pump_running=true {t + 60}000000000",
        f"meter,station=a,zone=n,meter=m1 indoor_temp=20 {t}000000000",
    ])
    deadline = time.monotonic() + 20
    rows: list[object] = []
    while time.monotonic() < deadline and not rows:
        series = influx.query('SELECT "supply_temp", "supply_temp_max", "station" '
                              'FROM "hourly"."telemetry"', db=db)
        rows = series[0]["values"] if series else []  # type: ignore[assignment]
        time.sleep(0.5)
    assert rows, "the continuous query wrote nothing within 20 s"
    (row,) = rows
    assert row == [int(hour.timestamp()) * 10**9, 65.0, 70.0, "a"]
    assert influx.count("meter", "indoor_temp", db=db, where="time > 0") == 1


def test_backfill_computes_every_aggregate_and_keeps_tags(influx: InfluxServer) -> None:
    db = "retention_backfill"
    settings = RetentionSettings()
    influx.create_database(db, settings)
    # Within the 90 raw days: InfluxDB refuses points older than the policy keeps.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    base = int(start.timestamp())
    _write(influx, db, [
        f"telemetry,station=s{i % 2},zone=z supply_temp={50 + i},heat_power={i} "
        f"{base + 600 * i}000000000" for i in range(12)  # two stations, two hours
    ])
    backfill(lambda q: influx.query(q, db=db), db, settings, start, start + timedelta(hours=2))
    series = influx.query('SELECT "supply_temp", "supply_temp_min", "supply_temp_max", '
                          '"supply_temp_last", "heat_power" FROM "hourly"."telemetry" '
                          'GROUP BY "station"', db=db)
    got = {s["tags"]["station"]: s["values"] for s in series}  # type: ignore[index]
    h0, h1 = base * 10**9, (base + 3600) * 10**9
    # s0 has i = 0, 2, 4 in hour 0 and 6, 8, 10 in hour 1; s1 the odd ones.
    assert got == {
        "s0": [[h0, 52.0, 50.0, 54.0, 54.0, 2.0], [h1, 58.0, 56.0, 60.0, 60.0, 8.0]],
        "s1": [[h0, 53.0, 51.0, 55.0, 55.0, 3.0], [h1, 59.0, 57.0, 61.0, 61.0, 9.0]],
    }
    with pytest.raises(ValueError, match="aware"):
        backfill(lambda q: None, db, settings, start.replace(tzinfo=None), start)


@pytest.mark.parametrize("bad", [{"raw_duration": "90"}, {"hourly_policy": 'x"; DROP'},
                                 {"resample_for": "0h"}, {"raw_duration": "-1d"}])
def test_settings_refuse_what_influxql_would_not_take(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RetentionSettings(**bad)  # type: ignore[arg-type]


def test_disabled_sends_nothing() -> None:
    sent: list[str] = []
    assert apply_retention(sent.append, "db", RetentionSettings(enabled=False)) == []
    assert sent == []


def test_heatwatch_run_refuses_a_bad_retention_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heatwatch.cli import build_parser

    args = build_parser("run").parse_args(
        ["run", "--run-dir", str(tmp_path / "run"), "--raw-retention", "90"])
    assert args._main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--raw-retention" in err
    assert not (tmp_path / "run").exists()


def test_retention_command_applies_and_backfills(
    influx: InfluxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`heatwatch retention` for an InfluxDB 1.x heatwatch does not start (systemd hosts)."""
    from heatwatch.cli import main

    db = "retention_cli"
    influx.create_database(db)
    assert main(["retention", "apply", "--url", influx.url, "--database", db,
                 "--raw-retention", "30d"]) == 0
    assert _policies(influx, db)["autogen"] == ("720h0m0s", True)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    _write(influx, db, [f"telemetry,station=a supply_temp=61 {int(hour.timestamp())}000000000"])
    assert main(["retention", "backfill", "--url", influx.url, "--database", db,
                 "--from", hour.isoformat(), "--to", (hour + timedelta(hours=1)).isoformat()]) == 0
    assert influx.count("telemetry", "supply_temp", db=db, where="time > 0") == 1
    (series,) = influx.query('SELECT "supply_temp" FROM "hourly"."telemetry"', db=db)
    assert series["values"] == [[int(hour.timestamp()) * 10**9, 61.0]]
    capsys.readouterr()
    assert main(["retention", "apply", "--url", influx.url, "--database", 'bad"db']) == 1
    assert main(["retention", "apply", "--url", influx.url, "--raw-retention", "ninety"]) == 2
    err = capsys.readouterr().err
    assert "plain identifier" in err and "raw_duration" in err
