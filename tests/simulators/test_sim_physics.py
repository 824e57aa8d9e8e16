"""Physics sanity, as properties of the model rather than golden numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import run_hours, settings

from simulators.fleet import SimFleet
from simulators.scenario import WeatherConfig
from simulators.weather import Weather


@pytest.mark.parametrize(("cold", "mild"), [(-20.0, -5.0), (-10.0, 3.0)])
def test_colder_outside_means_higher_setpoint_and_more_heat(cold: float, mild: float) -> None:
    fleets = {t: SimFleet(settings(outdoor=t)) for t in (cold, mild)}
    for f in fleets.values():
        run_hours(f, 1)
    c, m = fleets[cold].stations, fleets[mild].stations
    assert np.all(c.setpoint > m.setpoint)
    assert np.all(c.ts > m.ts)
    assert np.all(c.heat > m.heat)
    # the curve itself is monotone over the whole range
    temps = np.linspace(-35, 15, 51)
    sp = np.array([c.setpoint_for(float(t), 12.0)[0] for t in temps])
    assert np.all(np.diff(sp) <= 0) and sp[0] > sp[-1]


def test_night_setback_lowers_the_setpoint_at_night() -> None:
    f = SimFleet(settings(control={"night_setback": {"start_hour": 22, "end_hour": 5, "delta": 4}}))
    day = f.stations.setpoint_for(-10.0, 12.0)
    night = f.stations.setpoint_for(-10.0, 2.0)
    np.testing.assert_allclose(day - night, 4.0)


def test_normal_operation_is_plausible() -> None:
    f = SimFleet(settings(stations=10, outdoor=-19.0))
    run_hours(f, 2)
    st = f.stations
    assert np.all((st.tps > 70) & (st.tps < 111))
    assert np.all(st.ts < st.tps) and np.all(st.tr < st.ts) and np.all(st.tpr < st.tps)
    assert np.all(st.makeup / st.flow < 0.01), "normal make-up must stay well under 1 %"
    assert np.all(st.ps > st.pr)
    assert np.all(np.abs(st.heat / st.q_design - 1.0) < 0.25), "design load at design outdoor"
    mid = ~f.layout.flat_top & ~f.layout.flat_gable
    assert 20.0 < f.flats.indoor[mid].mean() < 24.0  # Shenyang flats run warm


def test_leak_lowers_pressure_raises_makeup_and_drains_tank() -> None:
    faults = [
        {"kind": "leak", "station": "st-00002", "start": "30m", "duration": "10h", "size": 0.04},
        {"kind": "leak", "station": "st-00004", "start": "30m", "duration": "10h", "size": 0.15},
    ]
    f = SimFleet(settings(faults=faults))
    st = f.stations
    run_hours(f, 0.4)
    p0, level0 = st.pr.copy(), st.level.copy()
    run_hours(f, 2)
    assert st.pr[1] < p0[1] - 0.2
    assert st.makeup[1] / st.flow[1] > 0.02
    assert st.level[1] < level0[1]
    # the big leak overwhelms the make-up pump, then empties the tank: the pressure collapses
    # and the low-pressure interlock stops circulation
    assert st.pr[3] < 0.3 * st.p_set[3]
    run_hours(f, 5)
    assert st.level[3] < 0.35
    assert st.pr[3] < 0.5 and not st.running[3]
    healthy = [0, 2, 4, 5]
    assert np.all(np.abs(st.pr[healthy] - p0[healthy]) < 0.05)
    assert np.all(st.makeup[healthy] / st.flow[healthy] < 0.01)


def test_pump_trip_collapses_delta_t_and_flats_cool() -> None:
    faults = [{"kind": "pump_trip", "station": "st-00003", "start": "1h", "duration": "5h"}]
    f = SimFleet(settings(faults=faults))
    run_hours(f, 1)
    st, fl = f.stations, f.flats
    flats = fl.station == 2
    dt_before = st.ts[2] - st.tr[2]
    indoor_before = fl.indoor[flats].mean()
    others_before = fl.indoor[~flats].mean()
    run_hours(f, 2)
    assert not st.running[2] and st.flow[2] < 0.02 * st.f_design[2]
    assert dt_before > 4.0 and abs(st.ts[2] - st.tr[2]) < 1.0
    assert fl.indoor[flats].mean() < indoor_before - 1.0
    assert abs(fl.indoor[~flats].mean() - others_before) < 0.3  # the others stay warm
    assert st.running[[0, 1, 3, 4, 5]].all()


def test_under_supply_runs_below_the_curve_and_flats_drop_below_18() -> None:
    faults = [{"kind": "under_supply", "station": "st-00001", "start": "0h", "duration": "30h",
               "size": 12}]
    f = SimFleet(settings(faults=faults, outdoor=-15.0))
    run_hours(f, 20)
    st = f.stations
    assert st.ts[0] < st.setpoint[0] - 10
    assert f.flats.indoor[f.flats.station == 0].mean() < 18.0
    assert f.flats.indoor[f.flats.station == 1].mean() > 19.0


def test_top_floor_gable_and_corner_flats_are_colder() -> None:
    f = SimFleet(settings(stations=20, outdoor=-19.0))
    lay, ti = f.layout, f.flats.indoor
    mid = ~lay.flat_top & ~lay.flat_gable
    top = lay.flat_top & ~lay.flat_gable
    gable = ~lay.flat_top & lay.flat_gable
    corner = lay.flat_top & lay.flat_gable
    for exposed in (top, gable, corner):
        assert 1.0 <= ti[mid].mean() - ti[exposed].mean() <= 3.0
    assert ti[corner].mean() < ti[top].mean()
    colder = [
        ti[(lay.flat_station == s) & top].mean() < ti[(lay.flat_station == s) & mid].mean()
        for s in range(lay.n_stations)
        if ((lay.flat_station == s) & top).sum() >= 3
    ]
    assert len(colder) >= 5 and all(colder)


def test_energy_counters_are_monotone() -> None:
    f = SimFleet(settings(outdoor=None, faults=[
        {"kind": "pump_trip", "station": "st-00001", "start": "20m", "duration": "30m"}]))
    last_st = f.stations.energy.copy()
    last_fl = f.flats.energy.copy()
    for _ in range(500):
        frame = f.step()
        assert np.all(f.stations.energy >= last_st)
        assert np.all(f.flats.energy >= last_fl)
        assert np.all(frame.station_values["heat_energy"] >= last_st[frame.stations] - 1e-9)
        last_st, last_fl = f.stations.energy.copy(), f.flats.energy.copy()


def test_default_weather_is_a_shenyang_winter_and_reproducible() -> None:
    w = Weather(WeatherConfig(), seed=1, scenario_start=0.0)
    t0 = 1_767_225_600.0  # 2026-01-01T00:00Z
    means = np.array([w.daily_mean(t0 + d * 86400) for d in range(90)])
    assert -14 < np.median(means) < -8
    assert np.percentile(means, 5) > -26 and np.percentile(means, 95) < 2
    temps = [w.temperature(t0 + h * 3600) for h in range(24)]
    assert max(temps) - min(temps) > 4  # a daily cycle
    again = Weather(WeatherConfig(), seed=1, scenario_start=0.0)
    assert again.temperature(t0 + 12345.0) == w.temperature(t0 + 12345.0)


def test_scripted_cold_wave_deepens_the_cold() -> None:
    wave = {"cold_waves": [{"start": "1d", "duration": "2d", "depth": 12}]}
    s = settings(outdoor=-8.0, weather=wave)
    f = SimFleet(s)
    w = f.weather
    assert w.temperature(f.start) == pytest.approx(-8.0)
    assert w.temperature(f.start + 2 * 86400) == pytest.approx(-20.0)
    assert w.temperature(f.start + 6 * 86400) == pytest.approx(-8.0)
