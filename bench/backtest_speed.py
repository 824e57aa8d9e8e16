"""Backtest throughput: readings per second replayed from a real InfluxDB through the rules.

Writes a synthetic history shaped like the real SCADA dev set (five stations, 4.5 months of
one heating season: two at 3-minute intervals throughout, three hourly then 15-minute then
3-minute; nights switched off or set back with a morning restart, outages of a few hours,
the controller's own setpoint) into a throw-away InfluxDB 1.x, then times

* the step-by-step replay (``backtest(..., mode="step")``: the engine evaluated every second
  of event time, as before) on a slice of the history: the baseline, it is slow;
* the event-driven replay (the default) of the same slice, which must give identical alerts
  and events, and of the whole history.

Both include reading InfluxDB (the time of the reads alone is shown too). Target: at least
20,000 readings/s for the whole history; the script exits non-zero under it or if the two
replays of the slice differ.

    python bench/backtest_speed.py [--quick] [--days 136] [--slice-days 2] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, cpu_seconds, machine, machine_table, table

from alerts.backtest import BacktestResult, backtest
from alerts.config import RulesConfig
from alerts.history import HistorySource, Selection
from heatwatch.lineproto import to_line
from heatwatch.local.servers import InfluxServer
from heatwatch.registry import Registry
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Kind, Reading

DB = "heatwatch"
TZ = "Europe/Belgrade"
START = dt.datetime(2023, 11, 15, tzinfo=dt.UTC).timestamp()
TARGET = 20_000.0
# station -> (days at hourly, days at 15 min) before 3-minute reporting; night regime
STATIONS = {"L4": (0, 0, "off"), "L17": (0, 0, "setback"), "L8": (40, 30, "off"),
            "L12": (60, 20, "off"), "L22": (45, 45, "setback")}

RULES = RulesConfig.model_validate({
    "defaults": {"heating": {"timezone": TZ, "season_start": "10-15", "season_end": "04-15",
                             "setback_start": "22:00", "setback_end": "05:00",
                             "setback_k": 30}},
})


def _local_hours(t: np.ndarray) -> np.ndarray:
    """Local hour of day (Belgrade: UTC+1 in winter; the season is all winter here)."""
    return ((t / 3600.0) + 1.0) % 24.0


def station_history(name: str, index: int, days: float, rng: np.random.Generator
                    ) -> list[Reading]:
    """One station's readings: intervals, night regime, restart transient, outages."""
    hourly_d, quarter_d, night = STATIONS[name]
    end = START + days * 86400
    parts = []
    t = START
    for span_d, step in ((hourly_d, 3600.0), (quarter_d, 900.0), (math.inf, 180.0)):
        stop = min(end, t + span_d * 86400)
        if stop > t:
            parts.append(np.arange(t, stop, step) + rng.uniform(0, 30))
        t = stop
    ts = np.concatenate(parts)
    # outages: a few stretches of several hours with no rows (the logger had nothing)
    keep = np.ones(ts.size, bool)
    for _ in range(max(1, round(days / 20))):
        at = START + rng.uniform(0, days * 86400)
        keep &= ~((ts >= at) & (ts < at + rng.uniform(2, 9) * 3600))
    ts = ts[keep]
    n = ts.size
    hours = _local_hours(ts)
    day = ts / 86400.0
    outdoor = (3.0 - 6 * np.sin(2 * np.pi * (day - 19650) / 120) + 4 * np.sin(
        2 * np.pi * (hours - 9) / 24) + rng.normal(0, 1.0, n))
    setpoint = np.clip(47.0 - 1.1 * outdoor, 30.0, 65.0)
    off = (hours >= 22) | (hours < 5)
    since_restart = np.where(hours >= 5, hours - 5, 99.0)
    if night == "setback":
        setpoint = np.where(off, setpoint - 8.0, setpoint)
        supply = setpoint + rng.normal(0, 1.2, n)
    else:
        warm = np.clip(since_restart, 0, 1)  # climbing for an hour after the restart
        supply = np.where(off, 24.0 + rng.normal(0, 1, n),
                          24.0 + (setpoint - 24.0) * warm + rng.normal(0, 1.2, n))
    ret = supply - np.where(off & (night == "off"), 1.0, 9.0) - rng.normal(0, 0.8, n)
    prim_sup = np.where(off & (night == "off"), 55.0, 85.0) + rng.normal(0, 2, n)
    # just after the restart the primary return runs above the primary supply a little
    prim_ret = np.where(since_restart < 0.15, prim_sup + 2.0, ret + 4.0) + rng.normal(0, 0.5, n)
    power = np.maximum(0.0, (supply - ret) * 12 + rng.normal(0, 3, n))
    energy = 8000.0 + index * 1000 + np.cumsum(power) * 0.05
    out = []
    for k in range(n):
        fields: dict[str, float | int | bool | str] = {
            "outdoor_temp": round(float(outdoor[k]), 1),
            "supply_setpoint": round(float(setpoint[k]), 1),
            "supply_temp": round(float(supply[k]), 1),
            "return_temp": round(float(ret[k]), 1),
            "primary_supply_temp": round(float(prim_sup[k]), 1),
            "primary_return_temp": round(float(prim_ret[k]), 1),
            "heat_power": round(float(power[k]), 1),
            "heat_energy": round(float(energy[k]), 3),
        }
        out.append(Reading(Kind.TELEMETRY, name, int(ts[k] * 1e9), fields))
    return out


def write_history(influx: InfluxServer, days: float) -> tuple[int, float]:
    """(readings, seconds) of writing the synthetic history."""
    rng = np.random.default_rng(12)
    began = time.perf_counter()
    influx.create_database(DB)
    total = 0
    with influx.client(DB, timeout=120) as client:
        for i, name in enumerate(STATIONS):
            lines = [to_line(r, "nis") for r in station_history(name, i, days, rng)]
            total += len(lines)
            for lo in range(0, len(lines), 20_000):
                client.write(lines[lo:lo + 20_000])
    return total, time.perf_counter() - began


def registry() -> Registry:
    """Report intervals as an operator (or calibration) would set them: the longest a
    station uses, so an hourly stretch is not an outage."""
    return Registry.model_validate({"stations": [
        {"id": s, "zone": "nis",
         "report_interval_s": 3600.0 if STATIONS[s][0] else 900.0 if STATIONS[s][1] else 180.0}
        for s in STATIONS]})


@dataclass(frozen=True)
class Timed:
    result: BacktestResult
    wall_s: float
    cpu_s: float  # this process (engine and reader thread) plus the InfluxDB server

    @property
    def rate(self) -> float:
        return self.result.readings / self.wall_s

    @property
    def cpu_rate(self) -> float:
        return self.result.readings / self.cpu_s


def run(influx: InfluxServer, settings: InfluxSettings, start: float, end: float,
        mode: str) -> Timed:
    source = HistorySource(settings, timeout=120)
    pid = influx.pid
    assert pid is not None
    try:
        cpu0, server0 = time.process_time(), cpu_seconds(pid)
        began = time.perf_counter()
        result = backtest(RULES, source, start, end, registry=registry(),
                          mode=mode)  # type: ignore[arg-type]
        wall = time.perf_counter() - began
        cpu = time.process_time() - cpu0 + cpu_seconds(pid) - server0
        return Timed(result, wall, cpu)
    finally:
        source.close()


def read_only(settings: InfluxSettings, start: float, end: float) -> tuple[int, float]:
    """Just the chunked reads of the whole history (the replay's chunk sizes)."""
    source = HistorySource(settings, timeout=120)
    began = time.perf_counter()
    n = 0
    lo, end_ns, span = int(start * 1e9), int(end * 1e9), 86400 * 7 * 10**9
    while lo < end_ns:
        n += len(source.chunk(lo, min(lo + span, end_ns), Selection()))
        lo += span
    source.close()
    return n, time.perf_counter() - began


def signature(result: BacktestResult) -> tuple[object, ...]:
    return (result.alerts, result.events, result.readings, result.cancelled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 days, a 0.5-day slice")
    parser.add_argument("--days", type=float, default=136.0)
    parser.add_argument("--slice-days", type=float, default=2.0)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the whole replay")
    args = parser.parse_args(argv)
    days = 20.0 if args.quick else args.days
    slice_days = 0.5 if args.quick else args.slice_days
    info = machine()
    with tempfile.TemporaryDirectory(prefix="hw-btbench-") as tmp:
        influx = InfluxServer(Path(tmp) / "influxdb")
        influx.start()
        try:
            written, write_s = write_history(influx, days)
            print(f"wrote {written:,} readings in {write_s:.1f} s", file=sys.stderr)
            settings = InfluxSettings(url=influx.url, database=DB)
            end = START + days * 86400
            s0 = START + 0.4 * days * 86400  # a slice with hourly and 3-minute stations
            s1 = s0 + slice_days * 86400
            step = run(influx, settings, s0, s1, "step")
            same = run(influx, settings, s0, s1, "event")
            identical = signature(step.result) == signature(same.result)
            read_n, read_s = read_only(settings, START, end)
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            whole = run(influx, settings, START, end, "event")
            if profiler is not None and args.profile is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
        finally:
            influx.stop()
    met = whole.cpu_rate >= TARGET
    rows = [
        Row("step by step, slice (baseline)", step.rate, "readings/s"),
        Row("event-driven, same slice", same.rate, "readings/s", "identical alerts",
            step.rate, identical),
        Row("event-driven, whole history", whole.rate, "readings/s", "", step.rate),
        Row("event-driven, whole history, per CPU second", whole.cpu_rate, "readings/s",
            f">= {TARGET:,.0f}", step.cpu_rate, met),
        Row("InfluxDB reads alone, whole history", read_n / read_s, "readings/s"),
    ]
    print(table("Backtest throughput (InfluxDB reads included)", rows))
    print()
    print(f"History: {written:,} readings of {len(STATIONS)} stations over {days:g} days "
          f"(hourly, 15-minute and 3-minute intervals; nights off or set back); slice "
          f"{slice_days:g} days with {step.result.readings:,} readings. Whole history: "
          f"{whole.result.readings:,} readings in {whole.wall_s:.1f} s "
          f"({whole.cpu_s:.1f} CPU s of the replay and InfluxDB), "
          f"{whole.result.evaluations:,} evaluations (step by step would run "
          f"{round(days * 86400):,}), {len(whole.result.alerts)} alerts. Slice: "
          f"{len(step.result.alerts)} alerts and {len(step.result.events)} events step by "
          f"step, {'identical' if identical else 'DIFFERENT'} event-driven "
          f"({step.result.evaluations:,} vs {same.result.evaluations:,} evaluations). The "
          f"target is judged per CPU second (this process plus influxd), because the "
          f"machine is shared and wall time follows its load (load average "
          f"{os.getloadavg()[0]:.1f} at the end).")
    print()
    print(machine_table(info))
    if not identical:
        print("FAIL: event-driven and step-by-step replays differ", file=sys.stderr)
        return 1
    if not met:
        print(f"FAIL: {whole.cpu_rate:,.0f} readings per CPU second is under {TARGET:,.0f}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
