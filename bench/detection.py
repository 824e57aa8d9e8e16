"""Detection benchmark: does the alert engine find the simulator's injected faults, quickly,
without crying wolf over normal operation?

Suites (simulated, accelerated, seeded; definitions in :func:`suites`):

* ``normal``: N stations x D days of normal operation (default 100 x 10 = 1,000 station-days)
  with sensor noise, random and one scripted cold wave, and night setback;
* ``faults_solo``: every fault kind at several sizes and stations, one gateway per station
  (a power loss fires the broker's last will);
* ``faults_shared``: power and communication losses behind shared gateways of 5 stations
  (the gateway announces `offline`, or a dead gateway's other stations just go silent), a
  leak and a pump trip.

Path: simulator messages -> ``heatwatch.wire.Decoder`` -> ``alerts.engine.Engine`` (SQLite
store) in-process on the simulated clock, evaluated every simulated second; the live service
(``alerts/service.py``) has no event-time mode, so MQTT is left out here (bench/alerts_latency.py
runs the MQTT path live). Scored from the simulator's ground truth (kind, station, zone, start,
end) against the incidents that fired:

* a detection: an alert of one of the kind's expected rules on the fault's station (or
  ``zone_cold`` on its zone) firing between fault start and end + ``GRACE_S``;
* a consequence: any other alert on a station (or zone) while it has a physical fault (a big
  leak stops the pump, a dead station's zone cools): reported, not counted as false;
* a false alert: every other firing.

Targets (issue 4): recall 100 % for leaks, outages (power loss, communication loss, pump trip)
and under-supply; <= 1 false alert per 1,000 station-days; time-to-detect <= the rule's hold
time + one reporting interval. Run: ``.venv/bin/python bench/detection.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alertbench import Incident, Replay, operator_rules, replay, write_section
from common import Row, machine, machine_table, table

from alerts.config import RulesConfig
from simulators.scenario import SimulatorSettings

START = "2026-01-05T00:00:00+08:00"  # mid-season, Shenyang local midnight
GRACE_S = 3600.0
INTERVAL_S = 10.0

EXPECTED: dict[str, frozenset[str]] = {
    "leak": frozenset({"makeup_surge", "pressure_drop", "tank_draining"}),
    "power_loss": frozenset({"station_offline", "power_loss"}),
    "comm_loss": frozenset({"station_offline"}),
    "pump_trip": frozenset({"pump_stopped"}),
    "under_supply": frozenset({"supply_below_curve", "zone_cold"}),
    "sensor_stuck": frozenset({"stuck_sensor"}),
    "sensor_spikes": frozenset({"out_of_range"}),
    "sensor_sentinel": frozenset({"out_of_range"}),
    "duplicates": frozenset(),
    "out_of_order": frozenset(),
    "clock_skew": frozenset(),
}
TARGET_KINDS = ("leak", "power_loss", "comm_loss", "pump_trip", "under_supply")
PHYSICAL = frozenset(TARGET_KINDS)
SENSOR_RULES = frozenset({"stuck_sensor", "out_of_range", "return_above_supply"})


# -- suites ---------------------------------------------------------------------------------


def _base(stations: int, hours: float, per_gateway: int, seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "time": {"start": START, "duration": hours * 3600},
        "fleet": {"stations": stations, "stations_per_gateway": per_gateway,
                  "flats_per_station": [12, 40]},
        "control": {"night_setback": {"start_hour": 23, "end_hour": 5, "delta": 3}},
        "weather": {"cold_wave_rate_per_day": 0.2,
                    "cold_waves": [{"start": "2d", "duration": "3d", "depth": 10}]},
    }


def _f(kind: str, target: str, start: str, duration: str, **kw: Any) -> dict[str, Any]:
    key = "gateway" if target.startswith("gw-") else "zone" if not target.startswith("st-") \
        else "station"
    return {"kind": kind, key: target, "start": start, "duration": duration, **kw}


def suites(quick: bool, stations: int, days: float) -> dict[str, dict[str, Any]]:
    """Scenario definitions (as scenario-file dicts) of every suite."""
    solo = _base(60, 3 if quick else 48, 1, 7)
    solo["faults"] = [
        _f("leak", "st-00001", "3h", "8h", size=0.025),
        _f("leak", "st-00002", "10h", "8h", size=0.03),
        _f("leak", "st-00003", "20h", "6h", size=0.05),
        _f("leak", "st-00004", "30h", "4h", size=0.12),
        _f("leak", "st-00005", "36h", "6h", size=0.08),
        _f("power_loss", "st-00006", "2h", "1h"),
        _f("power_loss", "st-00007", "14h", "30m", backup_power=True),
        _f("power_loss", "st-00008", "26h", "2h"),
        _f("comm_loss", "st-00009", "5h", "30m"),
        _f("comm_loss", "st-00010", "22h", "3h"),
        _f("comm_loss", "st-00011", "40h", "5m"),
        _f("pump_trip", "st-00012", "4h", "1h"),
        _f("pump_trip", "st-00013", "18h", "3h"),
        _f("pump_trip", "st-00014", "33h", "20m"),
        _f("under_supply", "st-00015", "2h", "10h", size=8),
        _f("under_supply", "st-00016", "12h", "12h", size=12),
        _f("under_supply", "st-00017", "28h", "8h", size=10, cause="primary_undertemp"),
        _f("under_supply", "shenbei", "6h", "16h", size=10, cause="primary_undertemp"),
        _f("sensor_stuck", "st-00018", "3h", "4h", field="supply_pressure"),
        _f("sensor_stuck", "st-00019", "20h", "6h", field="return_temp"),
        _f("sensor_sentinel", "st-00020", "8h", "1h", field="supply_temp", size=-39.9),
        _f("sensor_sentinel", "st-00021", "25h", "2h", field="return_pressure", size=327.67),
        _f("sensor_spikes", "st-00022", "6h", "4h", field="return_temp"),
        _f("duplicates", "st-00023", "2h", "10h", rate=0.2),
        _f("out_of_order", "st-00024", "2h", "10h", rate=0.2),
        _f("clock_skew", "st-00025", "0s", "48h", size=-600),
        _f("clock_skew", "st-00026", "1h", "20h", size=120),
    ]
    shared = _base(40, 3.5 if quick else 24, 5, 11)
    shared["faults"] = [
        _f("power_loss", "st-00002", "3h", "1h"),
        _f("power_loss", "gw-0003", "6h", "1h"),
        _f("comm_loss", "gw-0005", "10h", "30m"),
        _f("power_loss", "st-00031", "2h", "1h", backup_power=True),
        _f("leak", "st-00036", "4h", "7h", size=0.04),
        _f("pump_trip", "st-00038", "9h", "1h"),
    ]
    normal = _base(stations, days * 24, 1, 3)
    return {"normal": normal, "faults_solo": solo, "faults_shared": shared}


# -- scoring --------------------------------------------------------------------------------


@dataclass(slots=True)
class Truth:
    kind: str
    station: str
    zone: str
    start: float
    end: float
    details: dict[str, Any]


def read_truth(path: Path) -> list[Truth]:
    rows = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            if line.strip():
                d = orjson.loads(line)
                rows.append(Truth(d["kind"], d["station"], d["zone"], _epoch(d["start"]),
                                  _epoch(d["end"]), d.get("details", {})))
    return rows


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def hold_s(rule: str, rules: RulesConfig) -> float:
    """The time a rule's condition must last before it fires (station_offline: its timeout)."""
    d = rules.defaults
    if rule == "station_offline":
        return max(d.station_offline.intervals * INTERVAL_S, d.station_offline.min_timeout_s)
    if rule == "stuck_sensor":
        return d.stuck_sensor.stuck_after_s
    params = getattr(d, rule)
    return float(params.for_s)


def _covers(t: Truth, inc: Incident) -> bool:
    return inc.station == t.station or (inc.station is None and inc.zone == t.zone)


@dataclass(slots=True)
class KindScore:
    faults: int = 0
    detected: int = 0
    true_alerts: int = 0
    false_alerts: int = 0
    ttd: list[float] | None = None
    onset: list[float] | None = None  # fault start -> condition seen (pending)
    within: int = 0  # detections within hold + one interval


def score(
    truth: list[Truth], incidents: list[Incident], rules: RulesConfig
) -> tuple[dict[str, KindScore], list[Incident], list[Incident], list[tuple[Truth, str]]]:
    """Per-kind scores, false alerts, consequences, and (fault, first rule) misses/detections."""
    per: dict[str, KindScore] = defaultdict(KindScore)
    used: set[int] = set()
    first: list[tuple[Truth, str]] = []
    for t in truth:
        ks = per[t.kind]
        ks.faults += 1
        if ks.ttd is None:
            ks.ttd, ks.onset = [], []
        hits = [
            (i, inc) for i, inc in enumerate(incidents)
            if inc.rule in EXPECTED[t.kind] and _covers(t, inc)
            and t.start <= inc.fired_at <= t.end + GRACE_S
        ]
        for i, _inc in hits:
            used.add(i)
        if hits:
            inc = min((h[1] for h in hits), key=lambda x: x.fired_at)
            ks.detected += 1
            ttd = inc.fired_at - t.start
            ks.ttd.append(ttd)
            assert ks.onset is not None
            ks.onset.append(max(0.0, inc.active_at - t.start))
            if ttd <= hold_s(inc.rule, rules) + INTERVAL_S:
                ks.within += 1
            first.append((t, inc.rule))
        else:
            first.append((t, ""))
    false: list[Incident] = []
    consequences: list[Incident] = []
    for i, inc in enumerate(incidents):
        if i in used:
            continue
        during = [
            t for t in truth
            if _covers(t, inc) and t.start <= inc.fired_at <= t.end + GRACE_S
            and (t.kind in PHYSICAL or (t.kind in EXPECTED and inc.rule in SENSOR_RULES
                                        and EXPECTED[t.kind] & SENSOR_RULES))
        ]
        (consequences if during else false).append(inc)
    for i, inc in enumerate(incidents):
        if i in used:
            for kind, rules_ in EXPECTED.items():
                if inc.rule in rules_ and any(t.kind == kind and _covers(t, inc) for t in truth):
                    per[kind].true_alerts += 1
    for inc in false:
        for kind, rules_ in EXPECTED.items():
            if inc.rule in rules_ and kind in per:
                per[kind].false_alerts += 1
    return per, false, consequences, first


# -- main -----------------------------------------------------------------------------------


def run_suite(name: str, data: dict[str, Any], work: Path) -> tuple[SimulatorSettings, Replay,
                                                                      list[Truth], RulesConfig]:
    truth_path = work / f"truth-{name}.jsonl"
    data = {**data, "output": {"ground_truth": str(truth_path)}}
    cfg = SimulatorSettings.model_validate(data)
    rules = operator_rules(cfg)
    wall0 = time.perf_counter()
    rep = replay(cfg, rules, work / f"alerts-{name}.db")
    wall = time.perf_counter() - wall0
    print(f"# {name}: {cfg.fleet.stations} stations, {rep.simulated_s / 86400:.2f} days, "
          f"{rep.readings:,} readings, {len(rep.incidents)} alerts, {wall:.0f} s wall "
          f"({rep.simulated_s / wall:,.0f}x real time)", file=sys.stderr)
    return cfg, rep, read_truth(truth_path), rules


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f} s" if x < 600 else f"{x / 60:.0f} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke)")
    parser.add_argument("--stations", type=int, default=100, help="normal suite stations")
    parser.add_argument("--days", type=float, default=10.0, help="normal suite days")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    stations, days = (5, 0.25) if args.quick else (args.stations, args.days)
    defs = suites(args.quick, stations, days)

    incidents_all: dict[str, list[Incident]] = {}
    per_all: dict[str, KindScore] = defaultdict(KindScore)
    false_all: list[tuple[str, Incident]] = []
    cons_all: list[tuple[str, Incident]] = []
    station_days: dict[str, float] = {}
    rules: RulesConfig | None = None
    firsts: list[tuple[str, Truth, str]] = []
    readings = 0
    engine_s = simulated = 0.0
    with tempfile.TemporaryDirectory(prefix="hw-detect-") as tmp:
        for name, data in defs.items():
            cfg, rep, truth, rules = run_suite(name, data, Path(tmp))
            incidents_all[name] = rep.incidents
            station_days[name] = cfg.fleet.stations * rep.simulated_s / 86400
            readings += rep.readings
            engine_s += rep.engine_s
            simulated += rep.simulated_s * cfg.fleet.stations
            per, false, cons, first = score(truth, rep.incidents, rules)
            for kind, ks in per.items():
                agg = per_all[kind]
                agg.faults += ks.faults
                agg.detected += ks.detected
                agg.true_alerts += ks.true_alerts
                agg.false_alerts += ks.false_alerts
                agg.within += ks.within
                agg.ttd = (agg.ttd or []) + (ks.ttd or [])
                agg.onset = (agg.onset or []) + (ks.onset or [])
            false_all += [(name, i) for i in false]
            cons_all += [(name, i) for i in cons]
            firsts += [(name, t, r) for t, r in first]
    assert rules is not None

    total_days = sum(station_days.values())
    normal_days = station_days["normal"]
    false_normal = sum(1 for n, _ in false_all if n == "normal")
    rate_all = len(false_all) / total_days * 1000
    rate_normal = false_normal / normal_days * 1000

    rows: list[Row] = []
    for kind in EXPECTED:
        found = per_all.get(kind)
        if found is None:
            continue
        ks = found
        if ks.faults == 0:
            continue
        recall = 100 * ks.detected / ks.faults
        target = kind in TARGET_KINDS
        rows.append(Row(f"recall {kind} ({ks.detected}/{ks.faults})", recall, "%",
                        "100 %" if target else ("info" if EXPECTED[kind] else "no alert"),
                        None, (recall == 100) if target else None))
    for kind in TARGET_KINDS:
        found = per_all.get(kind)
        if found is None:
            continue
        ks = found
        if not ks.ttd:
            continue
        fired = {r for _n, t, r in firsts if t.kind == kind and r}
        allowed = max(hold_s(r, rules) for r in fired) + INTERVAL_S
        rows.append(Row(f"TTD {kind}, max ({ks.within}/{ks.detected} within hold + "
                        f"{INTERVAL_S:.0f} s)", max(ks.ttd), "s", "<= hold + interval",
                        allowed, ks.within == ks.detected))
    rows.append(Row("false alerts, normal operation", rate_normal, "per 1,000 station-days",
                    "<= 1", None, rate_normal <= 1))
    rows.append(Row("false alerts, all suites", rate_all, "per 1,000 station-days",
                    "<= 1", None, rate_all <= 1))
    rows.append(Row("station-days simulated", total_days, "station-days",
                    ">= 1,000 normal" if not args.quick else "", normal_days,
                    None if args.quick else normal_days >= 1000))
    rows.append(Row("engine cost (decode+observe+evaluate)",
                    engine_s / max(simulated, 1) * 86400 * 1000, "ms CPU per station-day"))

    detail = ["| kind | faults | detected | recall | precision | median TTD | max TTD | "
              "max onset | hold + interval | first rule(s) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for kind in EXPECTED:
        found = per_all.get(kind)
        if found is None:
            continue
        ks = found
        if ks.faults == 0:
            continue
        ttd = ks.ttd or []
        rules_fired = sorted({r for _n, t, r in firsts if t.kind == kind and r})
        holds = ", ".join(f"{_fmt_s(hold_s(r, rules) + INTERVAL_S)} ({r})" for r in rules_fired)
        denom = ks.true_alerts + ks.false_alerts
        prec = f"{100 * ks.true_alerts / denom:.0f} %" if denom else "-"
        detail.append(
            f"| {kind} | {ks.faults} | {ks.detected} | {100 * ks.detected / ks.faults:.0f} % | "
            f"{prec} | {_fmt_s(statistics.median(ttd) if ttd else None)} | "
            f"{_fmt_s(max(ttd) if ttd else None)} | "
            f"{_fmt_s(max(ks.onset) if ks.onset else None)} | {holds or '-'} | "
            f"{', '.join(rules_fired) or '-'} |"
        )
    misses = [f"* missed: {n} {t.kind} {t.station} ({t.zone}) {t.details}"
              for n, t, r in firsts if not r and EXPECTED[t.kind]]
    falses = [f"* false: {n} {i.rule} {i.subject} at +{_rel(i, defs[n]) / 3600:.2f} h"
              for n, i in false_all]
    conseq: defaultdict[str, int] = defaultdict(int)
    for _n, i in cons_all:
        conseq[i.rule] += 1
    cons_line = ", ".join(f"{r} x{c}" for r, c in sorted(conseq.items())) or "none"

    out = [machine_table(machine()), "", table("detection", rows), "", "\n".join(detail), "",
           f"Alerts on faulted stations/zones besides the expected ones (consequences, not "
           f"counted false): {cons_line}.", ""]
    out += misses + falses
    report = "\n".join(out)
    print(report)
    if args.write_doc:
        suites_line = "; ".join(
            f"{n}: {d['fleet']['stations']} stations x "
            f"{station_days[n] / d['fleet']['stations']:.1f} days, "
            f"{len(d.get('faults', []))} faults" for n, d in defs.items()
        )
        write_section("detection", DOC_HEAD.format(suites=suites_line, grace=GRACE_S / 60)
                      + "\n" + report)
    return 0


def _rel(inc: Incident, data: dict[str, Any]) -> float:
    return inc.fired_at - datetime.fromisoformat(data["time"]["start"]).timestamp()


DOC_HEAD = """## Alert detection (bench/detection.py)

`.venv/bin/python bench/detection.py --write-doc`. Path: simulator (`Simulation.frames()`) ->
`heatwatch.wire.Decoder` -> `alerts.engine.Engine` with its SQLite store, in-process on the
simulated clock, evaluated every simulated second (the service's default). The live service has
no event-time mode, so this replay leaves out MQTT; `bench/alerts_latency.py` covers that path
live.

Suites: {suites}.

A detection is an expected rule firing on the fault's station (or `zone_cold` on its zone)
between fault start and end + {grace:.0f} min; TTD is measured from the fault's start in the
ground truth; "max onset" is fault start -> condition first seen (the alert went pending), i.e.
the physics before any rule could fire (leak ramp, supply lag); TTD minus onset is the rule's
hold. Baseline in the TTD rows = the largest allowed time (hold + one reporting interval) of
the rules that detected that kind.
"""


if __name__ == "__main__":
    raise SystemExit(main())
