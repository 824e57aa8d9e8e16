"""``heatwatch forecast fit`` on the real InfluxDB: hourly means in, models file out, refusals
listed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from thermal_helpers import buildings

from forecast.thermal import load_models
from heatwatch.local.servers import InfluxServer

T0 = 1_796_083_200  # 2026-12-01T00:00:00Z


def _lines(stations: int, flats: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    s = buildings(seed=11, stations=stations, flats=flats, days=16)
    out = []
    hours = s.drive.heat.shape[1]
    for i in range(stations):
        for k in range(hours):
            on = s.drive.on[i, k] > 0.5
            supply = s.drive.heat[i, k] if on else 30.0
            ret = supply - 10.0 if on else supply - 0.5
            power = 200.0 if on else 0.0
            for q in range(4):  # every 15 minutes
                t = (T0 + k * 3600 + q * 900) * 10**9
                out.append(f"telemetry,station=st-{i},zone=north supply_temp={supply},"
                           f"return_temp={ret},heat_power={power},"
                           f"outdoor_temp={s.drive.outdoor[i, k]} {t}")
    for j in range(flats):
        for k in range(hours):
            v = s.indoor[j, k]
            if j == 0 and k >= 48:
                continue  # flat 0 went quiet after two days: too little data
            if np.isfinite(v):
                out.append(f"meter,meter=f{j},station=st-{s.station_of[j]},zone=north "
                           f"indoor_temp={v} {(T0 + k * 3600 + 1800) * 10**9}")
    return out, s.b, s.station_of


def test_fit_cli_writes_models_and_lists_refusals(tmp_path: Path, influx: InfluxServer,
                                                  database: str) -> None:
    lines, b, station_of = _lines(stations=2, flats=6)
    for lo in range(0, len(lines), 5000):
        resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                          content="\n".join(lines[lo:lo + 5000]).encode())
        assert resp.status_code == 204, resp.text
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(f"influx:\n  url: {influx.url}\n  database: {database}\n"
                   f"  transport: v1\n", encoding="utf-8")
    out = tmp_path / "models.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "heatwatch.cli", "forecast", "fit", "-c", str(cfg),
         "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-17T00:00:00Z", "-o", str(out)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "st-" in proc.stdout and "err_12h_K" in proc.stdout
    assert f"st-{station_of[0]}/f0: refused: too little data" in proc.stderr
    assert "fitted 5 flats, refused 1" in proc.stderr
    assert "zone north: 5 flats, time constant (heating off) p10 " in proc.stderr
    models = load_models(out)
    assert sorted(models.meter) == [f"f{j}" for j in range(1, 6)]
    assert models.refused == {f"st-{station_of[0]}/f0": "too little data"}
    assert (models.err[:, -1] < 0.5).all()
    # hourly means of the stored history give the buildings' time constants back
    for i, meter in enumerate(models.meter):
        j = int(meter[1:])
        assert abs(1 / models.b[i] - 1 / b[j]) * b[j] < 0.35


def test_service_refit_from_influxdb(tmp_path: Path, influx: InfluxServer, database: str) -> None:
    """The alerts service's refit (forecast.cycle.Refitter): nothing stored, nothing written;
    a fortnight stored, the models file is (re)written."""
    from alerts.config import RulesConfig
    from alerts.history import HistorySource
    from forecast.cycle import Refitter
    from forecast.settings import ModelSettings
    from heatwatch.settings import InfluxSettings

    path = tmp_path / "refit.npz"
    refitter = Refitter(ModelSettings(path=path, fit_days=16), RulesConfig(),
                        lambda: HistorySource(InfluxSettings(url=influx.url, database=database)))
    end = T0 + 16 * 86400
    assert refitter.refit(end) is None and not path.exists()
    lines, _, _ = _lines(stations=2, flats=6)
    for lo in range(0, len(lines), 5000):
        resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                          content="\n".join(lines[lo:lo + 5000]).encode())
        assert resp.status_code == 204, resp.text
    models = refitter.refit(end)
    assert models is not None and len(models) == 5 and path.exists()
    assert load_models(path).meter == models.meter
