"""Event-driven backtest == step-by-step backtest, on simulated histories with faults.

The replay evaluates only when something is due (:meth:`alerts.engine.Engine.next_due`);
step by step it evaluates every ``step_s`` of event time. Both must give the very same alerts
(ids, rules, subjects, times, severities, worst values, summaries) and the very same event
list. The histories come from the simulator fleet, decoded by the real wire decoder, thinned
per station to hourly, 15-minute and 3-minute reporting like real SCADA exports, with
injected faults: stations going silent (``station_offline`` with ``for``/``keep_firing_for``),
pump trips, under-supply, power loss, sensor spikes (flapping), and a rules-side night setback
that differs from the simulated one, so alerts start and end on the clock between readings.

The replay is fed from memory here (the loop is what is under test); ``test_backtest.py``
and ``bench/backtest_speed.py`` run it against a real InfluxDB.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alerts.backtest import BacktestResult, backtest
from alerts.config import RulesConfig
from alerts.history import HistorySource, Selection, sort_key
from alerts.rules import FAMILIES
from heatwatch.registry import Registry
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Decoder, Kind, Reading
from simulators.layout import registry_data
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

START = dt.datetime(2026, 1, 12, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
KEEP = (60, 15, 3, 1)  # every n-th 60 s reading: hourly, 15 min, 3 min, 1 min


class MemorySource(HistorySource):
    """The replay's input from a list (sorted like InfluxDB chunks are)."""

    def __init__(self, readings: list[Reading]) -> None:
        super().__init__(InfluxSettings(url="http://127.0.0.1:9"))
        self.readings = sorted(readings, key=sort_key)

    def chunk(self, start_ns: int, end_ns: int, selection: Selection) -> list[Reading]:
        return [r for r in self.readings if start_ns <= r.ts_ns < end_ns
                and (selection.station is None or r.station == selection.station)
                and (selection.meters or r.kind is not Kind.METER)]

    def stations(self, selection: Selection) -> dict[str, str]:
        return {}


def _fault(kind: str, station: str, start: str, duration: str, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "station": station, "start": start, "duration": duration, **kw}


REGIMES = [  # the real stations' nights: off with a morning restart, set back, run through
    {"stations": ["st-00001", "st-00003"], "night": "off", "window": ["22:00", "05:00"],
     "curve_shift_k": 10},
    {"stations": ["st-00002"], "night": "setback", "window": ["22:00", "05:00"],
     "setback_k": 8},
    {"stations": ["st-00002", "st-00003"], "reports_setpoint": True},
    {"stations": ["st-00001"], "reports_pump": False},
]


def simulate(seed: int, hours: float, *, regimes: bool = False
             ) -> tuple[list[Reading], Registry, float]:
    """A simulated history (readings, registry, start epoch), thinned per station."""
    cfg = SimulatorSettings.model_validate({
        "regimes": REGIMES if regimes else [],
        "seed": seed,
        "time": {"start": START, "duration": hours * 3600},
        "fleet": {"stations": 4, "flats_per_station": [6, 10], "zones": ["north"]},
        "reporting": {"station_interval_s": 60, "flat_interval_s": 600},
        "control": {"night_setback": {"start_hour": 23, "end_hour": 5, "delta": 4}},
        "faults": [
            _fault("comm_loss", "st-00003", f"{1 + seed % 3}h", "50m"),
            _fault("comm_loss", "st-00001", "6h", "5h"),
            _fault("pump_trip", "st-00004", "5h", "40m"),
            _fault("under_supply", "st-00002", f"{2 + seed % 2}h", "5h", size=9),
            _fault("power_loss", "st-00004", "9h", "20m"),
            _fault("sensor_spikes", "st-00004", "2h", "3h", field="return_temp"),
            _fault("sensor_stuck", "st-00003", "7h", "4h", field="supply_pressure"),
        ],
    })
    sim = Simulation(cfg)
    start = sim.fleet.start
    decoder = Decoder(prefix=cfg.mqtt.prefix, clock=lambda: start + 10 * 86400)
    kept: list[Reading] = []
    counts: dict[str, int] = {}
    for _frame, status, data in sim.frames():
        for msg in [*status, *data]:
            for reading in decoder.decode(msg.topic, msg.payload).readings:
                if reading.kind is Kind.TELEMETRY:
                    n = counts[reading.station] = counts.get(reading.station, -1) + 1
                    if n % KEEP[int(reading.station[-1]) - 1]:
                        continue
                kept.append(reading)
    data = registry_data(sim.fleet.layout)
    for st in data["stations"]:
        st["report_interval_s"] = 60.0 * KEEP[int(st["id"][-1]) - 1]
    return kept, Registry.model_validate(data), start


RULES = RulesConfig.model_validate({
    "repeat_interval_s": 3600,
    "defaults": {
        "heating": {"timezone": "Asia/Shanghai", "setback_start": "00:30",
                    "setback_end": "04:10", "setback_k": 7},
        "supply_below_curve": {"tolerance_k": 2.5, "recover_k": 1.0, "for_s": 420,
                               "keep_firing_for_s": 300, "flap_threshold": 3,
                               "flap_window_s": 5400},
        "station_offline": {"for_s": 90, "keep_firing_for_s": 150, "min_timeout_s": 120},
        "pump_stopped": {"for_s": 60, "keep_firing_for_s": 90},
        "return_above_supply": {"for_s": 0, "flap_threshold": 2, "flap_window_s": 900},
        "power_loss": {"for_s": 30},
        "stuck_sensor": {"stuck_after_s": 1800},
        "zone_cold": {"min_flats": 3},
    },
    "pipeline": {"min_stations": 3, "silent_share": 0.5, "startup_grace_s": 240},
})


# The rules' plan differs from the simulated one, so warm-up ends, outages after the planned
# window and supply alerts start and end on the clock, between hourly readings.
REGIME_RULES = RulesConfig.model_validate({
    **RULES.model_dump(mode="json", exclude={"stations", "zones"}),
    "defaults": {
        **RULES.defaults.model_dump(mode="json"),
        "heating": {"timezone": "Asia/Shanghai", "off_windows": [
            {"start": "23:00", "end": "03:40"}], "warmup_s": 2700,
            "setback_start": "00:30", "setback_end": "04:10", "setback_k": 7},
        "heating_not_resumed": {"after_window_s": 1500, "unplanned_s": 5 * 3600,
                                "max_outdoor_c": 30.0, "for_s": 300,
                                "keep_firing_for_s": 120},
    },
})


def replay(readings: list[Reading], reg: Registry, start: float, end: float, mode: str,
           rules: RulesConfig = RULES, **kw: Any) -> BacktestResult:
    source = MemorySource(readings)
    try:
        return backtest(rules, source, start, end, registry=reg, warm=False,
                        mode=mode, **kw)  # type: ignore[arg-type]
    finally:
        source.close()


def assert_same(event: BacktestResult, step: BacktestResult) -> None:
    assert event.readings == step.readings
    assert [(a.id, a.rule, a.subject, a.start, a.end, a.severity) for a in event.alerts] == [
        (a.id, a.rule, a.subject, a.start, a.end, a.severity) for a in step.alerts]
    assert event.alerts == step.alerts  # worst values and summaries too
    assert [(e.kind, e.ts, e.alert.id, e.seq) for e in event.events] == [
        (e.kind, e.ts, e.alert.id, e.seq) for e in step.events]
    assert event.events == step.events  # every snapshot field
    assert event.cancelled == step.cancelled


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_event_driven_equals_step_by_step(seed: int) -> None:
    readings, reg, start = simulate(seed, 14)
    end = start + 14 * 3600 - 60 * seed  # an end that is not on a reading
    step = replay(readings, reg, start, end, "step")
    event = replay(readings, reg, start, end, "event")
    assert_same(event, step)
    rules = {a.rule for a in step.alerts}
    # the histories exercise what the event-driven replay must not skip: a silence alert
    # and a station rule with a hold (which on thinned stations needs two readings to fire)
    assert "station_offline" in rules, rules
    assert rules & {"supply_below_curve", "pump_stopped"}, rules
    assert any(e.kind.value == "cancelled" or e.kind.value == "flapping"
               for e in step.events) or len(step.alerts) > 3


@pytest.mark.parametrize("seed", [7, 8])
def test_event_driven_equals_step_by_step_with_heating_regimes(seed: int) -> None:
    """Night shutdowns with their morning restarts, setback nights, stations reporting their
    setpoint or no pump status; off windows, warm-up and heating_not_resumed in the rules."""
    readings, reg, start = simulate(seed, 16, regimes=True)
    end = start + 16 * 3600
    step = replay(readings, reg, start, end, "step", REGIME_RULES)
    event = replay(readings, reg, start, end, "event", REGIME_RULES)
    assert_same(event, step)
    rules = {a.rule for a in step.alerts}
    assert {"station_offline", "pump_stopped"} <= rules, rules
    if "heating_not_resumed" in FAMILIES:  # the rule of the heating regimes (issue #12)
        assert "heating_not_resumed" in rules, rules


def test_event_driven_equals_step_by_step_coarse_steps_and_one_station() -> None:
    readings, reg, start = simulate(5, 10)
    end = start + 10 * 3600
    for kw in ({"step_s": 7.0}, {"station": "st-00002"}, {"chunk_s": 600.0}):
        assert_same(replay(readings, reg, start + 33, end, "event", **kw),
                     replay(readings, reg, start + 33, end, "step", **kw))


def test_a_quiet_history_costs_few_evaluations() -> None:
    """Hourly readings of one station: the event-driven replay evaluates at the readings,
    the schedule's breakpoints and the timers they start, not every second."""
    readings, reg, start = simulate(6, 6)
    hourly = [r for r in readings if r.station == "st-00001"]
    kw: dict[str, Any] = {"station": "st-00001"}
    event = replay(hourly, reg, start, start + 6 * 3600, "event", **kw)
    step = replay(hourly, reg, start, start + 6 * 3600, "step", **kw)
    assert_same(event, step)
    assert event.readings == 6 and step.evaluations == 6 * 3600
    assert event.evaluations < 100, event.evaluations


def test_readings_of_equals_reading_from_row() -> None:
    """The columnar conversion the backtest reads with gives reading_from_row's readings."""
    import random

    from alerts.history import Series, reading_from_row, readings_of

    rng = random.Random(7)
    columns = ["time", "station", "zone", "seq", "meter", "a", "b", "c"]
    pool: list[Any] = [None, 1, 2.5, True, False, "on", [1], {"x": 1}, -3, 0.0]
    for kind in (Kind.TELEMETRY, Kind.METER, Kind.STATUS):
        values = [[10**18 + i, rng.choice(["s1", "s2", None]), "z", rng.choice([None, 4, 5.0]),
                   rng.choice([None, "m1"]), *(rng.choice(pool) for _ in range(3))]
                  for i in range(300)]
        for tags in ({}, {"station": "tagged", "meter": "m9"}):
            series = Series("x", columns if not tags else
                            [c for c in columns if c not in tags],
                            values if not tags else
                            [[v for c, v in zip(columns, row, strict=True) if c not in tags]
                             for row in values], tags)
            expected = [r for r in (reading_from_row(kind, row) for row in series.rows())
                        if r is not None]
            assert readings_of(kind, [series]) == expected
            cut = 10**18 + 150
            assert readings_of(kind, [series], before_ns=cut) == [
                r for r in expected if r.ts_ns < cut]


def test_the_sweep_is_a_function_of_event_time() -> None:
    """Each station is swept by the first evaluation at or after each of its instants
    (phase + k * full_sweep_s), whatever the cadence of evaluations: once per period, spread
    over it, and with ``since`` exactly as if the skipped evaluations had run."""
    import itertools
    import math
    import random

    from alerts.fleet import FleetState

    rules = RulesConfig.model_validate({"full_sweep_s": 60})
    reg = Registry.model_validate({"stations": [{"id": f"s{i:04d}", "zone": "z"}
                                                for i in range(300)]})
    fleet = FleetState(rules, reg)
    rng = random.Random(3)
    t0 = 1_768_000_000.0
    fleet.sweep_slice(t0)
    assert fleet.dirty == set(fleet.windows)  # the first evaluation sweeps everything
    fleet.dirty.clear()
    swept: dict[str, list[float]] = {s: [] for s in fleet.windows}
    prev, now = t0, t0
    sizes = []
    while now < t0 + 600:
        now = prev + rng.choice([0.3, 1.0, 1.0, 2.5, 7.0])
        fleet.sweep_slice(now)
        expected = {s for s in fleet.windows
                    if math.floor((now - fleet.phase(s)) / 60) > math.floor(
                        (prev - fleet.phase(s)) / 60)}
        assert fleet.dirty == expected
        sizes.append(len(fleet.dirty) / (now - prev))
        for s in fleet.dirty:
            swept[s].append(now)
        fleet.dirty.clear()
        prev = now
    for times in swept.values():
        assert len(times) in (9, 10, 11)  # ten periods, give or take the edges
        assert all(53 <= b - a <= 67 for a, b in itertools.pairwise(times))
    assert max(sizes) < 3 * 300 / 60  # flat: about n / period stations per second
    # a replay that skipped evaluations and says where its previous tick was
    other = FleetState(rules, reg)
    other.sweep_slice(t0)
    other.dirty.clear()
    other.sweep_slice(t0 + 100.0, since=t0 + 99.0)
    step = FleetState(rules, reg)
    step.sweep_slice(t0 + 99.0)
    step.dirty.clear()
    step.sweep_slice(t0 + 100.0)
    assert other.dirty == step.dirty
    assert fleet.next_sweep("s0001", t0) - t0 == pytest.approx(
        (fleet.phase("s0001") - t0 % 60) % 60 or 60)


def test_offline_fires_again_while_the_last_one_is_remembered() -> None:
    """An hourly station nobody registered (taken as reporting every 10 s): station_offline
    fires a minute after every reading and resolves at the next. After a resolve the track
    stays (its flips count for flapping) without an open alert; the replay must still see
    the next offline timeout, or it fired half an hour late and skipped every other hour."""
    readings, _, start = simulate(6, 8)
    hourly = [r for r in readings if r.station == "st-00001"]
    unregistered = Registry()
    kw: dict[str, Any] = {"station": "st-00001", "rules": RulesConfig()}
    event = replay(hourly, unregistered, start, start + 8 * 3600, "event", **kw)
    step = replay(hourly, unregistered, start, start + 8 * 3600, "step", **kw)
    assert_same(event, step)
    assert sum(a.rule == "station_offline" for a in step.alerts) >= 6
