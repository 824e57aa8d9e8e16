"""``heatwatch rules backtest`` over a scripted history in the real InfluxDB.

Two hours at 10 s: ``leaky`` starts losing water at 00:30 (make-up jumps to 5 % of the
circulating flow), its pressure starts sliding at 00:40 (0.05 bar/min: under the rate
threshold, so only the 1.0 bar floor tells, first sample below at 01:00:30), and the leak is
repaired at 01:10. ``fine`` is healthy throughout; both have flats in zone ``north``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alert_helpers import T0, healthy, indoor, registry

from alerts.backtest import backtest, format_table
from alerts.backtest.plot import plot_backtest
from alerts.config import RulesConfig
from alerts.history import HistorySource, HistoryUnavailable
from alerts.rules_cli import add_arguments, main
from heatwatch.lineproto import to_line
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Reading

pytestmark = pytest.mark.servers

REG = registry("leaky", "fine", zone="north")
END = T0 + 7200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def history() -> list[Reading]:
    out: list[Reading] = []
    for k in range(720):
        t = T0 + 10 * k
        wiggle = {"supply_temp": 55.0 + 0.1 * (k % 2), "return_temp": 40.0 + 0.1 * (k % 3),
                  "primary_supply_temp": 90.0 + 0.1 * (k % 2),
                  "primary_return_temp": 50.0 + 0.1 * (k % 3),
                  "supply_pressure": 2.5 + 0.01 * (k % 2)}
        leaking = 1800 <= 10 * k < 4200
        pressure = 2.02 - 0.05 * (10 * k - 2400) / 60 if 2400 <= 10 * k < 4200 else 2.02
        out.append(healthy("leaky", t, **wiggle, return_pressure=pressure + 0.001 * (k % 2),
                           makeup_flow=0.5 if leaking else 0.0))
        out.append(healthy("fine", t, **wiggle, return_pressure=2.0 + 0.01 * (k % 2)))
        if k % 30 == 0:
            for n, base in enumerate((21.0, 20.5, 22.0)):
                out.append(indoor("fine", f"f{n}", t, base - 0.5 * (k % 4)))
    return out


@pytest.fixture
def stored(influx: InfluxServer, database: str) -> InfluxSettings:
    body = "\n".join(to_line(r, REG.zone_of(r.station)) for r in history())
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content=body.encode(), timeout=30)
    assert resp.status_code == 204, resp.text
    return InfluxSettings(url=influx.url, database=database)


def run(settings: InfluxSettings, station: str | None = None, zone: str | None = None,
        rule: str | None = None) -> list[tuple[str, str, float, float | None]]:
    source = HistorySource(settings)
    try:
        result = backtest(RulesConfig(), source, T0, END, registry=REG, station=station,
                          zone=zone, rule=rule)
    finally:
        source.close()
    return [(a.rule, a.subject, a.start - T0, None if a.end is None else a.end - T0)
            for a in result.alerts]


def test_the_leak_and_nothing_else(stored: InfluxSettings) -> None:
    source = HistorySource(stored, limit=100)  # small pages: queries split, still complete
    done: list[float] = []
    result = backtest(RulesConfig(), source, T0, END, registry=REG, chunk_s=1800,
                      progress=lambda d, total: done.append(d * 7200 / total))
    source.close()
    got = [(a.rule, a.subject, a.pending_at - T0, a.start - T0,
            None if a.end is None else a.end - T0) for a in result.alerts]
    assert got == [
        ("makeup_surge", "leaky", 1800.0, 2400.0, 4200.0),   # pending 00:30, for 600 s
        ("pressure_drop", "leaky", 3630.0, 3690.0, 4200.0),  # under 1.0 bar at 01:00:30
    ]
    makeup, pressure = result.alerts
    assert makeup.worst == pytest.approx(0.05)
    assert pressure.worst == pytest.approx(0.5293, abs=1e-4)  # the last sample, 01:09:50
    assert result.readings == 2 * 720 + 3 * 24 and result.cancelled == 0
    # chunks grow from a minute up to chunk_s while small: 1, 2, 4, 8, 16 min, then 30 min
    assert done == [60, 180, 420, 900, 1860, 3660, 5460, 7200]
    table = format_table(result)
    assert re.search(r"makeup_surge +leaky +critical +2026-01-15 12:40:00 +2026-01-15 13:10:00"
                     r" +30m00s +0.05 ", table)
    assert "2 alert(s) would have fired" in table


def test_filters_and_determinism(stored: InfluxSettings) -> None:
    everything = run(stored)
    assert run(stored) == everything  # same input, same output
    assert run(stored, station="fine") == []
    assert run(stored, station="leaky") == everything
    assert run(stored, zone="south") == []
    assert run(stored, rule="pressure_drop") == [everything[1]]


def test_influx_down_is_an_error_not_an_empty_result() -> None:
    dead = HistorySource(InfluxSettings(url=f"http://127.0.0.1:{free_port()}"), timeout=1)
    with pytest.raises(HistoryUnavailable):
        backtest(RulesConfig(), dead, T0, END)
    dead.close()


def test_cli_prints_the_table_and_plots(stored: InfluxSettings, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "registry.yaml"
    reg.write_text("stations:\n  - {id: leaky, zone: north}\n  - {id: fine, zone: north}\n")
    png = tmp_path / "leak.png"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([
        "backtest", "--from", "2026-01-15T12:00:00Z", "--to", "2026-01-15T14:00:00+00:00",
        "--zone", "north", "--influx-url", stored.url, "--database", stored.database,
        "--registry", str(reg), "--plot", str(png), "--no-progress",
    ])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "makeup_surge" in out and "pressure_drop" in out and "leaky" in out
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10000


def test_cli_subprocess_with_progress_on_stderr(stored: InfluxSettings) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "heatwatch.cli", "rules", "backtest", "--from",
         "2026-01-15T12:00:00Z", "--to", "2026-01-15T14:00:00Z", "--station", "fine",
         "--influx-url", stored.url, "--database", stored.database],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "0 alert(s) would have fired" in proc.stdout
    assert "100%" in proc.stderr  # the progress bar finished


def test_cli_errors(stored: InfluxSettings, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["backtest", "--from", "2026-01-15T12:00:00Z", "--to", "2026-01-15T11:00:00Z"]
    assert main(parser.parse_args([*base, "--database", stored.database])) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    dead = [*base[:4], "2026-01-15T13:00:00Z", "--influx-url",
            f"http://127.0.0.1:{free_port()}"]
    assert main(parser.parse_args(dead)) == 1
    assert "InfluxDB" in capsys.readouterr().err


def test_liveness_runs_on_event_time(stored: InfluxSettings, influx: InfluxServer) -> None:
    """A station that stops reporting at 00:30 is offline one timeout after its last reading
    in event time (there is no arrival time in history), and stays so to the end."""
    lines = [to_line(healthy("gone", T0 + 10 * k), "north") for k in range(180)]
    resp = httpx.post(f"{influx.url}/write",
                      params={"db": stored.database, "precision": "ns"},
                      content="\n".join(lines).encode(), timeout=30)
    assert resp.status_code == 204
    got = run(stored, rule="station_offline")
    assert got == [("station_offline", "gone", 1790.0 + 60.0, None)]


def test_zone_cold_from_stored_meters(stored: InfluxSettings, influx: InfluxServer,
                                      tmp_path: Path) -> None:
    """Three more flats of ``north`` report 15 °C from 00:20 to 01:25 and 21 °C at 01:30:
    half the zone under 18 °C, so zone_cold is pending at 00:20, fires after its 30 minutes
    and resolves at 01:30; a single-station backtest leaves zones out."""
    lines = [to_line(indoor("fine", f"c{n}", T0 + t, 15.0 if t < 5400 else 21.0), "north")
             for t in range(1200, 5401, 300) for n in range(3)]
    resp = httpx.post(f"{influx.url}/write",
                      params={"db": stored.database, "precision": "ns"},
                      content="\n".join(lines).encode(), timeout=30)
    assert resp.status_code == 204
    source = HistorySource(stored)
    result = backtest(RulesConfig(), source, T0, END, registry=REG, zone="north",
                      rule="zone_cold")
    cold = result.alerts
    assert [(a.subject, a.pending_at - T0, a.start - T0, a.end - T0 if a.end else None,
             a.severity.value) for a in cold] == [("north", 1200.0, 3000.0, 5400.0, "warning")]
    assert cold[0].worst == pytest.approx(0.5) and "3 of 6 flats" in cold[0].summary
    png = plot_backtest(result, source, tmp_path / "zone.png", rules=RulesConfig(),
                        registry=REG, stations=[], zone="north")
    source.close()
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert run(stored, station="fine", rule="zone_cold") == []
