"""Households (issue 16): flat_cold and flat_sensor against the simulator's ground truth, the
comfort ledger and the complaint verdicts against it, and the flat rules' cost for a city.

**Detection.** A fleet (default 100 stations, 24-60 flats each, about 4,200 flats) for a week
of Shenyang January with the normal-week regimes (30 % of stations off at night, 20 % with a
setback): radiator air locks (a flat's radiator at 10 % of its output: 14-16 °C), top-floor
flats under-supplied (40 %: about 17 °C), two stations under-supplying for a day (their
flats' alerts must be inhibited and listed in the station's), windows opened for 10
minutes (the air dips 6 K), dead sensors (reading -127, frozen, or a constant 4 °C). The
simulator's wire messages go through ``heatwatch.wire.Decoder`` into one ``Engine``
evaluated every reporting step (60 s).

Ground truth is each flat's sensor without its noise (room plus the sensor's bias; an open
window's air dip left out: it is not a cold flat), sampled every step:

* a **cold episode** is a run of that truth under the standard (18 °C) lasting at least the
  hold plus one flat reporting interval (2 h 5 min: a run of exactly the hold cannot be seen
  for the hold by readings every 5 minutes), on a flat with a working sensor; it is found
  when a ``flat_cold`` fires (inhibited or not) for that flat between its start and one
  interval after its end. Time to detect counts from its first reading (the detectable onset,
  as in bench/detection.py); from the truth's crossing as information;
* a ``flat_cold`` is **false** when, as it fires, the flat's truth has not been under the
  standard plus 0.3 K (the sensors' noise) for at least half the hold; rate per 10,000
  flat-days of flats without a flat fault (windows and night regimes included).

**Ledger.** ``households.ledger.comfort_day`` (households-ledger's) on every flat's received
readings for every whole local day (Asia/Shanghai) vs the truth's hours under the standard
(the window's dip included here: the air was cold), total over all flat-days.

**Complaints.** ``simulators.households.ComplaintStream``: residents of flats 1 K or more under
the standard call (cold), a few of warm flats (1 K over) too, one in ten by address only (no
sensor); ``households.verdict.judge`` on the evidence the API would gather (the flat's
readings, its station's supply against its reference, open alerts) must find the truth.

**Cost.** 400,000 flats (20 per station) reporting every 5 minutes into one engine evaluated
every second, 1 % of them cold (judged at every reading, firing during the run), with the flat
rules on and off in the same process: the difference is the rules' cost, added to the
engine's city figure (bench/alerts_scale.py) against its 0.2-core budget.

Run: ``.venv/bin/python bench/households_bench.py [--quick] [--write-doc]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from alertbench import DOC, SimClock, fleet_registry, operator_rules, write_section
from common import Row, machine, machine_table, table

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.flats import FLAT_INHIBITORS
from alerts.model import AlertEvent, AlertState, EventKind, Scope
from alerts.rules.regime import supply_reference
from alerts.rules.temperature import SUPPLY_BELOW_CURVE
from alerts.store import Store
from heatwatch.registry import Registry
from heatwatch.wire import Decoder, Kind, Reading
from households.ledger import comfort_day, day_bounds, days_between
from households.verdict import Evidence, OpenAlert, StationSupply, judge
from simulators.households import Complaint, ComplaintStream, room_truth, sensor_truth
from simulators.runner import Simulation
from simulators.scenario import SCENARIO_DIR, SimulatorSettings

STANDARD = 18.0
TZ = "Asia/Shanghai"
NOISE_K = 0.3
START = "2026-01-12T00:00:00+08:00"


@dataclass
class Plan:
    """What the bench injects, by flat index."""

    radiator: list[int] = field(default_factory=list)
    top: list[int] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)
    sensors: dict[int, str] = field(default_factory=dict)  # flat -> sentinel|stuck|low
    short_stations: list[int] = field(default_factory=list)


def scenario(stations: int, days: float, seed: int) -> tuple[SimulatorSettings, Plan]:
    """The normal-week regimes and weather over ``days``, with the flat faults of the plan."""
    base = yaml.safe_load((SCENARIO_DIR / "normal_week.yaml").read_text(encoding="utf-8"))
    base.update(seed=seed, time={"start": START, "duration": days * 86400},
                reporting={"station_interval_s": 60, "flat_interval_s": 300},
                faults=[])
    base["fleet"] = {**base["fleet"], "stations": stations, "flats_per_station": [24, 60]}
    cfg = SimulatorSettings.model_validate(base)
    lay = Simulation(cfg).fleet.layout
    rng = np.random.default_rng(seed + 16)
    n = lay.n_flats
    plan = Plan()
    faults: list[dict[str, Any]] = []
    horizon = days * 86400

    def flat_fault(kind: str, j: int, start: float, duration: float, **kw: Any) -> None:
        faults.append({"kind": kind, "station": lay.station_ids[int(lay.flat_station[j])],
                       "meter": lay.flat_ids[j], "start": start, "duration": duration, **kw})

    middle = rng.permutation([j for j in range(n) if not lay.flat_top[j]])
    tops = rng.permutation(np.flatnonzero(lay.flat_top))
    k_rad, k_top, k_sensor = max(4, n // 150), max(3, n // 300), max(3, n // 800)
    for j in middle[:k_rad].tolist():
        plan.radiator.append(j)
        flat_fault("radiator_blocked", j, float(rng.uniform(0.05, 0.5) * horizon),
                   float(rng.uniform(1.5, 3.0) * 86400))
    for j in tops[:k_top].tolist():
        plan.top.append(j)
        flat_fault("flat_under_supply", j, float(rng.uniform(0.05, 0.4) * horizon),
                   float(rng.uniform(2.0, 4.0) * 86400))
    for j in middle[k_rad:k_rad + 3 * k_sensor].tolist():
        kind = ("sentinel", "stuck", "low")[len(plan.sensors) % 3]
        plan.sensors[j] = kind
        start = float(rng.uniform(0.1, 0.6) * horizon)
        sensor_kind = "sensor_stuck" if kind == "stuck" else "sensor_sentinel"
        extra = {"size": -127.0 if kind == "sentinel" else 4.0} if kind != "stuck" else {}
        flat_fault(sensor_kind, j, start, horizon, field="indoor_temp", **extra)
    windows = rng.choice(n, size=max(20, n // 15), replace=True)
    for j in windows.tolist():
        plan.windows.append(j)
        # mornings and evenings, when people air their flats (local 07-09 and 18-22 h)
        day = int(rng.integers(0, max(1, int(days))))
        hour = float(rng.choice([rng.uniform(7, 9), rng.uniform(18, 22)]))
        flat_fault("window_open", j, day * 86400 + hour * 3600, 600.0, size=6.0)
    busy = {int(lay.flat_station[j]) for j in plan.radiator + plan.top + list(plan.sensors)}
    free = [s for s in range(lay.n_stations) if s not in busy]
    for s in free[:2]:
        plan.short_stations.append(s)
        faults.append({"kind": "under_supply", "station": lay.station_ids[s],
                       "start": float(rng.uniform(0.2, 0.6) * horizon), "duration": 86400.0,
                       "size": 15.0})
    return SimulatorSettings.model_validate({**base, "faults": faults}), plan


@dataclass
class Episode:
    flat: int
    start: float
    end: float
    first_reading: float | None = None


@dataclass
class Outcome:
    """Everything scored from one run."""

    episodes: list[Episode] = field(default_factory=list)
    fired: dict[int, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    # flat -> [fired, resolved] of each flat_cold incident; station -> its inhibitors' firing
    open_cold: dict[int, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    station_down: dict[str, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    false_cold: list[tuple[int, float]] = field(default_factory=list)
    sensor_fired: dict[int, float] = field(default_factory=dict)
    station_alerts_listing: int = 0
    station_flat_pages: int = 0  # flat_cold paged while its station's alert fired
    later_flat_pages: int = 0  # ... after it resolved (still cold, not warming back)
    station_alerts: int = 0
    # (complaint, the verdict's finding, its cause)
    complaints: list[tuple[Complaint, str, str]] = field(default_factory=list)
    ledger: float = 0.0
    truth: float = 0.0
    flat_days: int = 0
    normal_flat_days: float = 0.0
    days_no_data: int = 0
    readings: int = 0
    wall_s: float = 0.0


def detect(cfg: SimulatorSettings, plan: Plan, hold_s: float, progress: bool) -> Outcome:
    """Replay the scenario through decoder and engine, scoring against the ground truth."""
    sim = Simulation(cfg)
    fleet, lay = sim.fleet, sim.fleet.layout
    rules: RulesConfig = operator_rules(cfg, flat_cold={"hold_s": hold_s})
    registry: Registry = fleet_registry(lay, cfg.reporting.station_interval_s)
    clock = SimClock(fleet.start)
    out = Outcome()
    n = lay.n_flats
    index = {m: j for j, m in enumerate(lay.flat_ids)}
    flat_interval = cfg.reporting.flat_interval_s
    dt_step = cfg.reporting.station_interval_s
    below_since = np.full(n, np.nan)  # truth under the standard since
    clear_below = np.zeros(n, bool)  # truth under the standard by more than the noise
    near_since = np.full(n, np.nan)  # truth under standard + noise since
    first_low = np.full(n, np.nan)  # first reading of the current truth run under
    faulted = np.zeros(n, bool)
    faulted[plan.radiator + plan.top + list(plan.sensors)] = True
    sensor_bad = np.zeros(n, bool)
    sensor_bad[list(plan.sensors)] = True
    times: list[array[float]] = [array("d") for _ in range(n)]
    values: list[array[float]] = [array("d") for _ in range(n)]
    days = days_between(fleet.start, fleet.start + (cfg.time.duration or 0.0), TZ)
    whole = [d for d in days[1:-1]]  # whole local days only
    bounds = [_bounds(d) for d in whole]
    truth_hours = np.zeros((n, len(whole)))
    complaints = ComplaintStream(fleet, standard_c=STANDARD)
    names = rules.fields
    short = {lay.station_ids[s] for s in plan.short_stations}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hw-households-") as tmp:
        store = Store(Path(tmp) / "alerts.db")
        engine = Engine(rules, store, clock, registry=registry, record=False)
        decoder = Decoder(prefix=cfg.mqtt.prefix, clock=clock)
        for s in range(lay.n_stations):
            m = sim.encoder.status(s, True)
            for r in decoder.decode(m.topic, m.payload).readings:
                engine.observe(r, fleet.start)
        for frame, status, data in sim.frames():
            t = frame.t
            active = fleet.active
            assert active is not None
            for m in status + data:
                clock.t = t + m.delay
                for r in decoder.decode(m.topic, m.payload).readings:
                    engine.observe(r, t + m.delay)
                    out.readings += 1
                    if r.kind is Kind.METER and r.meter is not None:
                        _keep(r, index, times, values, first_low, clear_below)
            clock.t = t + dt_step
            _score_events(engine.evaluate(clock.t), engine, index, near_since, hold_s,
                          sensor_bad, short, out)
            # ground truth of this step
            room = room_truth(fleet)
            air = sensor_truth(fleet, active)
            under = room < STANDARD
            started = under & np.isnan(below_since)
            below_since[started] = t
            clear_below = room < STANDARD - NOISE_K
            ended = ~under & ~np.isnan(below_since)
            for j in np.flatnonzero(ended).tolist():
                _episode(out, j, below_since[j], t, first_low[j], hold_s + flat_interval,
                         sensor_bad)
            below_since[ended] = np.nan
            first_low[ended] = np.nan
            near = room < STANDARD + NOISE_K
            near_since[near & np.isnan(near_since)] = t
            near_since[~near] = np.nan
            for k, (a, b) in enumerate(bounds):
                if a <= t < b:
                    truth_hours[air < STANDARD, k] += dt_step / 3600.0
            for c in complaints.step(t, dt_step, active):
                out.complaints.append(_verdict(c, engine, rules, names, index, times, values))
            if progress and frame.index % 1440 == 0:
                print(f"  day {frame.index // 1440}: {out.readings:,} readings, "
                      f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        end = clock.t
        for j in np.flatnonzero(~np.isnan(below_since)).tolist():
            _episode(out, j, below_since[j], end, first_low[j], hold_s + flat_interval,
                     sensor_bad)
        store.close()
    out.wall_s = time.monotonic() - t0
    # ledger over every whole local day of every flat
    for j in range(n):
        if sensor_bad[j]:
            continue  # its readings are not the room's: flat_sensor says so, not the ledger
        samples = list(zip(times[j], values[j], strict=True))
        for k, day in enumerate(whole):
            cd = comfort_day(samples, day, TZ)
            out.flat_days += 1
            if cd.band == "no_data":
                out.days_no_data += 1
                continue
            out.ledger += cd.hours_below
            out.truth += float(truth_hours[j, k])
    out.normal_flat_days = float((~faulted).sum()) * (cfg.time.duration or 0.0) / 86400.0
    return out


def _bounds(day: dt.date) -> tuple[float, float]:
    return day_bounds(day, TZ)


def _keep(r: Reading, index: dict[str, int], times: list[array[float]],
          values: list[array[float]], first_low: Any, clear_below: Any) -> None:
    """Keep a flat reading (ledger, complaints) and mark the detectable onset of a cold run:
    its first reading once the truth is under the standard by more than the noise."""
    j = index[r.meter or ""]
    v = r.fields.get("indoor_temp")
    if not isinstance(v, float):
        return
    ts = r.ts_ns / 1e9
    times[j].append(ts)
    values[j].append(v)
    if clear_below[j] and math.isnan(first_low[j]):
        first_low[j] = ts


def _episode(out: Outcome, j: int, start: float, end: float, first: float, min_s: float,
             sensor_bad: Any) -> None:
    if end - start >= min_s and not sensor_bad[j]:
        out.episodes.append(Episode(j, start, end, None if math.isnan(first) else first))


def _score_events(events: list[AlertEvent], engine: Engine, index: dict[str, int],
                  near_since: Any, hold_s: float, sensor_bad: Any, short: set[str],
                  out: Outcome) -> None:
    for e in events:
        a = e.alert
        if e.kind is EventKind.RESOLVED:
            if a.rule == "flat_cold" and out.open_cold[index[a.subject]]:
                out.open_cold[index[a.subject]][-1][1] = e.ts
            elif a.rule in FLAT_INHIBITORS and a.station and out.station_down[a.station]:
                out.station_down[a.station][-1][1] = e.ts
            continue
        if e.kind is not EventKind.FIRING:
            continue
        if a.rule in FLAT_INHIBITORS and a.station:
            out.station_down[a.station].append([e.ts, math.inf])
        if a.rule == "flat_cold":
            out.open_cold[index[a.subject]].append([e.ts, math.inf])
            j = index[a.subject]
            inhibited = engine.router.inhibited(a)
            out.fired[j].append((e.ts, inhibited))
            if a.station in short and not inhibited:
                if any(o.station == a.station and o.rule in FLAT_INHIBITORS
                       and o.state is AlertState.FIRING for o in engine.open_alerts()):
                    out.station_flat_pages += 1
                else:
                    out.later_flat_pages += 1
            since = near_since[j]
            if sensor_bad[j] or math.isnan(since) or e.ts - since < hold_s / 2:
                out.false_cold.append((j, e.ts))
        elif a.rule == "flat_sensor":
            out.sensor_fired.setdefault(index[a.subject], e.ts)
        elif a.scope is Scope.STATION and a.rule == "supply_below_curve":
            out.station_alerts += 1
    for a in engine.open_alerts():  # the station alert lists its cold flats by now?
        if a.rule == "supply_below_curve" and a.annotations.get("cold_flats"):
            out.station_alerts_listing = max(out.station_alerts_listing,
                                             int(a.annotations["cold_flats"]))


def _verdict(c: Complaint, engine: Engine, rules: RulesConfig, names: Any,
             index: dict[str, int], times: list[array[float]],
             values: list[array[float]]) -> tuple[Complaint, str, str]:
    """The verdict the API would give at the call: the flat's readings of the last 25 h, its
    station's supply against the reference, the open alerts on the flat, station and zone."""
    window = engine.fleet.windows.get(c.station)
    supply = None
    if window is not None:
        rs = rules.params_for(window.zone, c.station)
        ref = supply_reference(c.ts, window, rs, names)
        supply = StationSupply(window.number(names.supply_temp),
                               None if ref is None else ref[0],
                               SUPPLY_BELOW_CURVE.params(rs).tolerance_k, window.delivering)
    samples: list[tuple[float, float]] = []
    if c.meter is not None:
        j = index[c.meter]
        ts, vs = times[j], values[j]
        k = len(ts)
        while k > 0 and ts[k - 1] > c.ts - 25 * 3600:
            k -= 1
        samples = [(a, b) for a, b in zip(ts[k:], vs[k:], strict=True) if a <= c.ts]
    zone = window.zone if window is not None else ""
    alerts = [OpenAlert(a.rule, a.scope.value, a.subject, a.severity.value)
              for a in engine.open_alerts()
              if (a.station == c.station and (a.scope is not Scope.FLAT or a.subject == c.meter))
              or (a.scope is Scope.ZONE and a.zone == zone)]
    v = judge(Evidence(c.ts, c.meter is not None, samples, supply, alerts))
    return c, v.finding, v.cause


# -- cost at city scale -----------------------------------------------------------------------


def city_cost(flats: int, per_station: int, minutes: float, cold_share: float,
              enabled: bool) -> tuple[float, int, int]:
    """(CPU seconds of observe + evaluate, flat readings, flat alerts firing at the end) for
    ``flats`` flats reporting every 5 min, ``cold_share`` of them at 15 °C (three rounds of
    readings before the timed run, so every flat has a level, and a hold that ends in the
    middle of it, so the cold flats fire during it), evaluated every second."""
    stations = flats // per_station
    ids = [f"st-{i:05d}" for i in range(stations)]
    registry = Registry.model_validate({"stations": [
        {"id": s, "zone": f"z{i % 10}", "report_interval_s": 10.0} for i, s in enumerate(ids)]})
    rules = RulesConfig.model_validate({
        "pipeline": {"enabled": False},
        "defaults": {"station_offline": {"enabled": False}, "zone_cold": {"enabled": False},
                     "flat_cold": {"enabled": enabled, "hold_s": 900 + minutes * 30},
                     "flat_sensor": {"enabled": enabled}}})
    rng = np.random.default_rng(7)
    cold = rng.random(flats) < cold_share
    base = np.where(cold, 15.0, rng.uniform(19.5, 23.0, flats))
    slot = rng.integers(0, 300, flats)  # the second of each 5 minutes a flat reports in
    by_slot = [np.flatnonzero(slot == s).tolist() for s in range(300)]
    meters = [f"{ids[j // per_station]}-m{j % per_station:02d}" for j in range(flats)]
    t0 = 1_768_000_000.0
    cpu = time.process_time
    spent = 0.0
    readings = 0
    with tempfile.TemporaryDirectory(prefix="hw-cost-") as tmp:
        store = Store(Path(tmp) / "alerts.db")
        engine = Engine(rules, store, SimClock(t0), registry=registry, record=False)
        for s in ids:  # one delivering station reading each
            engine.observe(Reading(Kind.TELEMETRY, s, int(t0 * 1e9),
                                   {"supply_temp": 50.0, "return_temp": 40.0,
                                    "heat_power": 200.0, "outdoor_temp": -10.0}))
        noise = rng.normal(0.0, 0.1, (int(minutes / 5) + 2, flats))
        for rnd in range(3):  # history: not timed
            when = t0 - 900 + 300 * rnd
            for j in range(flats):
                engine.observe(Reading(Kind.METER, ids[j // per_station], int(when * 1e9),
                                       {"indoor_temp": round(float(base[j] + noise[rnd, j]), 2)},
                                       meter=meters[j]))
        engine.evaluate(t0)
        for second in range(1, int(minutes * 60) + 1):
            now = t0 + second
            rnd = second // 300
            batch = [Reading(Kind.METER, ids[j // per_station], int(now * 1e9),
                             {"indoor_temp": round(float(base[j] + noise[rnd, j]), 2)},
                             meter=meters[j]) for j in by_slot[second % 300]]
            c0 = cpu()
            for r in batch:
                engine.observe(r)
            engine.evaluate(now)
            spent += cpu() - c0
            readings += len(batch)
        firing = sum(1 for a in engine.open_alerts() if a.rule == "flat_cold")
        store.close()
    return spent, readings, firing


# -- report -----------------------------------------------------------------------------------


def report(cfg: SimulatorSettings, plan: Plan, out: Outcome, hold_s: float,
           cost: tuple[float, float, int, int, float] | None) -> list[Row]:
    interval = cfg.reporting.flat_interval_s
    found, ttd, ttd_cross = 0, [], []
    by_cause: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    radiator, top = set(plan.radiator), set(plan.top)
    lay = Simulation(cfg).fleet.layout
    already = listed = 0
    for ep in out.episodes:
        station = lay.station_ids[int(lay.flat_station[ep.flat])]
        cause = ("radiator air lock" if ep.flat in radiator else "top floor under-supplied"
                 if ep.flat in top else "station under-supply fault (inhibited)"
                 if int(lay.flat_station[ep.flat]) in plan.short_stations
                 else "night switch-off, cold weather")
        by_cause[cause][1] += 1
        end = ep.end + interval
        fires = [a for a, b in out.open_cold.get(ep.flat, []) if a <= end and b >= ep.start]
        # while its station's own alert fires, the flat is listed in it (cold_flats)
        down = [a for a, b in out.station_down.get(station, []) if a <= end and b >= ep.start]
        if not (fires or down):
            print(f"  missed: {lay.flat_ids[ep.flat]} ({cause}) cold from {ep.start:.0f} to "
                  f"{ep.end:.0f} ({(ep.end - ep.start) / 3600:.1f} h); incidents "
                  f"{out.open_cold.get(ep.flat, [])}", file=sys.stderr)
            continue
        found += 1
        by_cause[cause][0] += 1
        if not fires:
            listed += 1
        elif fires[0] < ep.start:
            already += 1  # its alert was still open from an earlier run (hysteresis)
        else:
            if ep.first_reading is not None:
                ttd.append(fires[0] - ep.first_reading)
            ttd_cross.append(fires[0] - ep.start)
    total = len(out.episodes)
    false_rate = len(out.false_cold) / max(out.normal_flat_days, 1e-9) * 10_000
    sensors_found = sum(1 for j in plan.sensors if j in out.sensor_fired)
    matched = sum(1 for c, f, _ in out.complaints if f == c.truth)
    cold_c = [(c, cause) for c, f, cause in out.complaints if c.truth == "cold"]
    cause_ok = sum(1 for c, cause in cold_c
                   if cause == ("station" if c.station_short else "building"))
    short_flats = [j for j, fires in out.fired.items() if any(inh for _, inh in fires)]
    ledger_err = abs(out.ledger - out.truth) / out.truth if out.truth else 0.0
    rows = [
        Row("cold episodes >= hold + 1 interval (working sensors)", total, "episodes"),
    ]
    for cause, (hit, n) in sorted(by_cause.items()):
        rows.append(Row(f"  found: {cause}", hit, f"of {n}", "all", None, hit == n))
    rows += [
        Row("flat-level recall", 100.0 * found / total if total else 100.0, "%", "100",
            None, found == total),
        Row("  found by an alert still open from an earlier run", already, "episodes"),
        Row("  found listed in the station's own alert only", listed, "episodes"),
        Row("time to detect from the first low reading: max", max(ttd) / 60 if ttd else 0.0,
            "min", f"<= {(hold_s + interval) / 60:.0f}", None,
            (max(ttd) if ttd else 0.0) <= hold_s + interval),
        Row("time to detect from the first low reading: median",
            float(np.median(ttd)) / 60 if ttd else 0.0, "min"),
        Row("time to detect from the truth crossing: max (info)",
            max(ttd_cross) / 60 if ttd_cross else 0.0, "min"),
        Row("false flat_cold", len(out.false_cold), "alerts"),
        Row("flat-days of normal operation (windows, night regimes included)",
            out.normal_flat_days, "flat-days"),
        Row("false flat_cold per 10,000 flat-days", false_rate, "per 10k", "<= 1", None,
            false_rate <= 1.0),
        Row("windows opened for 10 min", len(plan.windows), "windows"),
        Row("dead sensors found by flat_sensor", sensors_found, f"of {len(plan.sensors)}",
            "all", None, sensors_found == len(plan.sensors)),
        Row("flat_cold paged while their station's alert fired (inhibited instead)",
            out.station_flat_pages, "pages", "0", None, out.station_flat_pages == 0),
        Row("  paged after it resolved: still cold, not warming back (info)",
            out.later_flat_pages, "pages"),
        Row("  their flat_cold alerts recorded as inhibited", len(short_flats), "flats"),
        Row("  cold flats listed in the station's alert (most at once)",
            out.station_alerts_listing, "flats"),
        Row("ledger: hours under the standard (all flat-days)", out.ledger, "h"),
        Row("ground truth: hours under the standard", out.truth, "h"),
        Row("ledger vs ground truth", 100.0 * ledger_err, "%", "<= 1", None, ledger_err <= 0.01),
        Row("flat-days without enough data (no_data)", out.days_no_data,
            f"of {out.flat_days}"),
        Row("complaints", len(out.complaints), "calls"),
        Row("verdict finding = ground truth", 100.0 * matched / max(1, len(out.complaints)),
            "%", "100", None, matched == len(out.complaints)),
        Row("cold complaints: cause station/building right (info)",
            100.0 * cause_ok / max(1, len(cold_c)), "%"),
        Row("replay wall time", out.wall_s, "s"),
    ]
    if cost is not None:
        on, off, readings, firing, minutes = cost
        per_s = minutes * 60
        rows += [
            Row("city: flat readings per second", readings / per_s, "readings/s"),
            Row("city: engine with flat rules off (baseline)", off / per_s * 1000, "millicore"),
            Row("city: engine with flat rules on", on / per_s * 1000, "millicore", "",
                off / per_s * 1000),
            Row("city: the flat rules' own cost", (on - off) / per_s * 1000, "millicore"),
            Row("  flat_cold firing at the end (1 % of flats cold)", firing, "alerts"),
        ]
        engine = alerts_scale_mc()
        if engine is not None:
            total = engine + (on - off) / per_s * 1000
            rows.append(Row("city engine total: alerts_scale steady figure (docs) + flat rules",
                            total, "millicore", "<= 200", None, total <= 200))
    return rows


def alerts_scale_mc() -> float | None:
    """The engine's city figure (millicore, steady half) from the alerts_scale section of
    docs/benchmarks.md: what the flat rules' own cost adds to, against the 0.2-core budget."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    section = text.split("<!-- bench:alerts_scale -->")[-1].split("<!-- /bench:alerts_scale")[0]
    for line in section.splitlines():
        if line.startswith("| engine observe + evaluate, 2nd half (steady) |"):
            return float(line.split("|")[2].replace(",", ""))
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--city-flats", type=int, default=400_000)
    parser.add_argument("--city-minutes", type=float, default=10.0)
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    stations, days, city, minutes = ((12, 3.0, 20_000, 6.0) if args.quick else
                                     (args.stations, args.days, args.city_flats,
                                      args.city_minutes))
    hold_s = 7200.0
    load0 = os.getloadavg()[0]
    cfg, plan = scenario(stations, days, args.seed)
    out = detect(cfg, plan, hold_s, progress=not args.quick)
    off = city_cost(city, 20, minutes, 0.01, enabled=False)
    on = city_cost(city, 20, minutes, 0.01, enabled=True)
    rows = report(cfg, plan, out, hold_s, (on[0], off[0], on[1], on[2], minutes))
    head = (f"{stations} stations, {len(cfg.faults)} faults over {days:g} simulated days, "
            f"{out.readings:,} readings; city cost: {city:,} flats for {minutes:g} simulated "
            f"minutes each way; load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} "
            f"at the end ({os.cpu_count()} cores)")
    text = "\n".join([machine_table(machine()), "", table("households", rows), "", head])
    print(text)
    if args.write_doc:
        write_section("households", DOC_HEAD + "\n" + text)
    return 0 if all(r.ok is not False for r in rows) else 1


DOC_HEAD = """## Households: cold flats, ledger, complaints (bench/households_bench.py)

`.venv/bin/python bench/households_bench.py --write-doc` (issue 16); what is scored and how is in
the script's docstring. Ground truth: each flat's sensor without its noise (room + bias),
from the simulator, every 60 s. Real data: the xai4heat set (`../shared/data/xai4heat-scada/`)
has station columns only (no indoor sensor of any flat), so `flat_cold` could not be checked
on real flats.
"""


if __name__ == "__main__":
    raise SystemExit(main())
