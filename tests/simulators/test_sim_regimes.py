"""Heating regimes: night shutdown with its morning restart, setback nights, the setpoint field
and stations without pump status (docs/simulators.md, "Heating regimes")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
from pydantic import ValidationError
from sim_helpers import settings

from heatwatch.wire import Decoder, Kind, load_schema
from simulators.fleet import SimFleet
from simulators.publisher import MemorySink
from simulators.runner import Simulation
from simulators.scenario import load_scenario

EVENING = "2026-01-12T18:00:00+08:00"
REGIMES: list[dict[str, Any]] = [
    # off 22:00-05:00, always behind a cold slug at restart, setpoint reported, no pump status
    {"stations": ["st-00001"], "night": "off", "window": ["22:00", "05:00"],
     "restart_inversion": 1.0, "curve_shift_k": 10, "reports_setpoint": True,
     "reports_pump": False},
    {"stations": ["st-00002"], "night": "setback", "window": ["22:00", "05:00"], "setback_k": 8,
     "reports_setpoint": True},
    # st-00003: continuous (the scenario has no fleet-wide setback)
    {"stations": ["st-00004"], "night": "off", "window": ["22:00", "05:00"],
     "restart_inversion": 0.0},
]
SERIES = ("supply_temp", "return_temp", "primary_supply_temp", "primary_return_temp",
          "heat_power", "supply_setpoint", "flow", "primary_flow")


@dataclass
class Night:
    """Published values per station (index) at each step, with the local hour."""

    hour: list[float] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    pump: list[Any] = field(default_factory=list)
    indoor: list[Any] = field(default_factory=list)

    def at(self, name: str, station: int) -> np.ndarray:
        return np.array([row[station] for row in self.values[name]])

    def hours(self) -> np.ndarray:
        # hours since 18:00 local, so the night is monotonic (22:00 -> 4, 05:00 -> 11)
        return (np.array(self.hour) - 18.0) % 24.0


def _settings(**kw: Any) -> Any:
    return settings(stations=4, outdoor=0.0, duration="14h", time={"start": EVENING},
                    fleet={"flats_per_station": [8, 16]}, regimes=REGIMES, **kw)


@pytest.fixture(scope="module")
def night() -> Night:
    fleet = SimFleet(_settings())
    out = Night(values={n: [] for n in SERIES})
    try:
        for _ in range(round(14 * 3600 / fleet.dt)):
            fr = fleet.step()
            assert fr.stations.tolist() == [0, 1, 2, 3]
            out.hour.append(fleet.weather.local_hours(fr.t))
            for n in SERIES:
                out.values[n].append(fr.station_values[n].copy())
            out.pump.append(fr.pump_running.copy())
            fl = fleet.flats
            out.indoor.append(np.bincount(fl.station, fl.indoor) / np.bincount(fl.station))
    finally:
        fleet.close()
    return out


def _window(n: Night, start: float, end: float) -> np.ndarray:
    """Steps between two local clock hours given as hours after 18:00."""
    h = n.hours()
    mask: np.ndarray = (h >= start) & (h < end)
    return mask


def test_off_at_night_heat_power_and_dt_collapse(night: Night) -> None:
    st = 0
    evening, off = _window(night, 2.0, 3.5), _window(night, 5.0, 10.9)  # 20:00-21:30, 23:00-
    sup, ret = night.at("supply_temp", st), night.at("return_temp", st)
    heat = night.at("heat_power", st)
    assert heat[evening].min() > 20.0 and (sup - ret)[evening].mean() > 4.0
    assert np.all(heat[off] == 0.0)
    assert np.abs(sup - ret)[off].max() < 3.0 and np.all(sup[off] + 0.3 >= ret[off])
    # the loop cools slowly towards the building, not to the outdoor temperature
    at_23, at_0445 = sup[_window(night, 5.0, 5.1)].mean(), sup[_window(night, 10.7, 10.8)].mean()
    assert at_0445 < at_23 - 5.0 and 21.0 < at_0445 < 35.0
    # primary valve closed: the stagnant primary supply cools too
    tps = night.at("primary_supply_temp", st)
    assert tps[_window(night, 10.7, 10.8)].mean() < tps[evening].mean() - 15.0
    pump = np.array([p[st] for p in night.pump])
    assert pump[evening].all() and not pump[off].any()
    # the stopped pump's creep is under the heat meters' minimum flow: they read 0
    assert night.at("flow", st)[evening].min() > 0.0 and np.all(night.at("flow", st)[off] == 0)
    assert np.all(night.at("primary_flow", st)[off] == 0.0)
    # flats cool slowly (building time constant), well under 1 K per hour
    indoor = np.array([x[st] for x in night.indoor])
    drop = indoor[_window(night, 4.0, 4.1)].mean() - indoor[_window(night, 10.9, 11.0)].mean()
    assert 0.5 < drop < 7 * 1.0


def test_off_station_reports_its_curve_setpoint_all_night(night: Night) -> None:
    sp = night.at("supply_setpoint", 0)
    off, evening = _window(night, 5.0, 10.9), _window(night, 2.0, 3.5)
    assert abs(sp[off].mean() - sp[evening].mean()) < 1.5  # steady weather: no drop


def test_restart_supply_reaches_setpoint_within_an_hour(night: Night) -> None:
    st = 3  # no cold slug
    sup, sp = night.at("supply_temp", st), night.at("supply_setpoint", st)
    h = night.hours()
    after = h >= 11.0
    first = h[after & (sup >= sp - 3.0)][0]
    assert 11.2 < first <= 12.0  # a climb, and within an hour of 05:00
    assert np.all((sup >= sp - 3.0)[h >= 12.5])
    # the return lags behind the supply while the flats take the heat
    ret = night.at("return_temp", st)
    assert (sup - ret)[_window(night, 11.25, 11.75)].mean() > 4.0


def test_restart_primary_return_above_supply_briefly(night: Night) -> None:
    tps, tpr = night.at("primary_supply_temp", 0), night.at("primary_return_temp", 0)
    inverted = tpr > tps + 1.0
    h = night.hours()
    assert not inverted[(h >= 2.0) & (h < 11.0)].any()  # not before the restart
    early = inverted[(h >= 11.0) & (h < 11.25)]
    assert early.sum() >= 3  # a few samples right after the restart
    assert not inverted[h >= 12.0].any()  # then not
    # a station whose restart has no cold slug never shows it
    assert not (night.at("primary_return_temp", 3) > night.at("primary_supply_temp", 3) + 1.0)[
        h >= 2.0].any()
    # behind the slug the supply cannot climb yet; afterwards it reaches the setpoint
    sup, sp = night.at("supply_temp", 0), night.at("supply_setpoint", 0)
    assert np.all((sup >= sp - 3.0)[h >= 12.9])


def test_setback_lowers_setpoint_and_supply_in_its_window(night: Night) -> None:
    st = 1
    sp, sup = night.at("supply_setpoint", st), night.at("supply_temp", st)
    evening, inside, morning = _window(night, 2.0, 3.9), _window(night, 4.5, 10.9), \
        _window(night, 11.5, 14.0)
    assert sp[evening].mean() - sp[inside].mean() == pytest.approx(8.0, abs=0.3)
    assert sp[morning].mean() - sp[inside].mean() == pytest.approx(8.0, abs=0.3)
    assert sup[evening].mean() - sup[inside].mean() > 6.5
    assert np.abs(sup - sp)[inside].max() < 1.0
    heat = night.at("heat_power", st)
    assert heat[inside].min() > 0.0  # runs through


def _telemetry() -> dict[str, list[dict[str, Any]]]:
    s = _settings().model_copy(update={"time": _settings().time.model_copy(
        update={"duration": 1800.0})})
    sim = Simulation(s)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    out: dict[str, list[dict[str, Any]]] = {}
    for m in sink.messages:
        if m.topic.endswith("/telemetry"):
            out.setdefault(m.topic.split("/")[1], []).append(orjson.loads(m.payload))
    return out


def test_setpoint_and_pump_fields_only_where_configured() -> None:
    tel = _telemetry()
    assert set(tel) == {"st-00001", "st-00002", "st-00003", "st-00004"}
    has_sp = {s: {"supply_setpoint" in d for d in docs} for s, docs in tel.items()}
    has_pump = {s: {"pump_running" in d for d in docs} for s, docs in tel.items()}
    assert has_sp == {"st-00001": {True}, "st-00002": {True}, "st-00003": {False},
                      "st-00004": {False}}
    assert has_pump == {"st-00001": {False}, "st-00002": {True}, "st-00003": {True},
                        "st-00004": {True}}


def test_payloads_with_optional_fields_decode() -> None:
    s = _settings(reporting={"batch": 2})
    s = s.model_copy(update={"time": s.time.model_copy(update={"duration": 1200.0})})
    sim = Simulation(s)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    decoder = Decoder(clock=lambda: 2_000_000_000.0)
    seen: dict[str, set[str]] = {}
    for m in sink.messages:
        decoded = decoder.decode(m.topic, m.payload)
        assert not decoded.rejections, (m.topic, m.payload[:300], decoded.rejections)
        for r in decoded.readings:
            if r.kind.value == "telemetry":
                seen.setdefault(r.station, set()).update(r.fields)
    assert "supply_setpoint" in seen["st-00001"] and "pump_running" not in seen["st-00001"]
    assert "supply_setpoint" not in seen["st-00003"] and "pump_running" in seen["st-00003"]


def test_run_through_on_cold_nights() -> None:
    regimes = [{"stations": ["st-00001"], "night": "off", "window": ["22:00", "05:00"],
                "setback_k": 6, "run_through_below_c": -5.0}]
    for outdoor, runs_through in ((-10.0, True), (0.0, False)):
        s = settings(stations=2, outdoor=outdoor, duration="8h", time={"start": EVENING},
                     fleet={"flats_per_station": [5, 8]}, regimes=regimes)
        fleet = SimFleet(s)
        heat, sp = [], []
        for _ in range(round(8 * 3600 / fleet.dt)):
            fr = fleet.step()
            if fleet.weather.local_hours(fr.t) >= 23.0:
                heat.append(fr.station_values["heat_power"][0])
                sp.append(fleet.stations.setpoint[0])
        fleet.close()
        assert bool(min(heat) > 0.0) is runs_through
        if runs_through:
            assert max(sp) < fleet.stations.setpoint[1] + 3.0  # reduced by the setback


def test_shares_are_seeded_slices_and_give_no_ground_truth(tmp_path: Any) -> None:
    regimes = [{"share": [0.0, 0.3], "night": "off"},
               {"share": [0.3, 0.5], "night": "setback"},
               {"share": [0.2, 0.6], "reports_setpoint": True}]
    truth = tmp_path / "truth.jsonl"
    a = SimFleet(settings(stations=200, regimes=regimes, fleet={"flats_per_station": [2, 3]}),
              ground_truth=truth)
    b = SimFleet(settings(stations=200, regimes=regimes, fleet={"flats_per_station": [2, 3]}))
    c = SimFleet(settings(stations=200, regimes=regimes, seed=8,
                       fleet={"flats_per_station": [2, 3]}))
    for _ in range(5):
        a.step()
    for f in (a, b, c):
        f.close()
    ra, rb, rc = a.regimes, b.regimes, c.regimes
    assert np.array_equal(ra.off, rb.off) and np.array_equal(ra.reports_setpoint,
                                                             rb.reports_setpoint)
    assert not np.array_equal(ra.off, rc.off)
    setback = ra.setback_k > 0
    assert not (ra.off & setback & ~ra.off).any()
    assert 40 <= ra.off.sum() <= 80 and 20 <= (setback & ~ra.off).sum() <= 60
    # the setpoint slice overlaps both on purpose
    assert (ra.reports_setpoint & ra.off).any() and (ra.reports_setpoint & ~ra.off).any()
    assert truth.read_text() == ""  # planned regimes are not faults


@pytest.mark.parametrize(("entry", "message"), [
    ({"night": "off"}, "name exactly one target"),
    ({"stations": ["st-00001"], "zone": "heping"}, "name exactly one target"),
    ({"share": [0.5, 0.2]}, r"share must be \[from, to\]"),
    ({"share": [0, 1], "window": ["22:00", "22:00"]}, "window start and end must differ"),
    ({"share": [0, 1], "window": ["25:00", "05:00"]}, "not a time of day"),
    ({"share": [0, 1], "night": "setback", "run_through_below_c": -3},
     "run_through_below_c only applies"),
])
def test_invalid_regimes_are_named(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(regimes=[entry])


def test_unknown_zone_or_station_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown zone"):
        SimFleet(settings(regimes=[{"zone": "nowhere", "night": "off"}]))


def test_bare_yaml_off_means_off(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("regimes:\n  - {stations: [st-00001], night: off}\n")
    assert load_scenario(path).regimes[0].night == "off"


def test_shipped_mix_payloads_match_the_schema() -> None:
    cfg = load_scenario(None, fleet={"stations": 20, "flats_per_station": [2, 4]},
                        time={"start": "2026-01-12T21:55:00+08:00", "duration": "15m"})
    sim = Simulation(cfg)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    validator = jsonschema.Draft202012Validator(load_schema(Kind.TELEMETRY))
    decoder = Decoder(clock=lambda: 2_000_000_000.0)
    keys: list[set[str]] = []
    for m in sink.messages:
        assert not decoder.decode(m.topic, m.payload).rejections
        if m.topic.endswith("/telemetry"):
            doc = orjson.loads(m.payload)
            validator.validate(doc)
            keys.append(set(doc))
    assert any("supply_setpoint" in k for k in keys) and any("pump_running" not in k for k in keys)
