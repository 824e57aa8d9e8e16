"""The simulator's weather forecasts: seeded errors that grow with lead, published retained."""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import settings

from forecast.wire import decode_forecast
from simulators.forecasts import ForecastPublisher, SimForecaster
from simulators.publisher import MemorySink
from simulators.runner import Simulation
from simulators.scenario import ForecastSimConfig
from simulators.weather import Weather

H = 3600.0
T0 = 1768147200.0  # 2026-01-11T16:00:00Z


def forecaster(seed: int = 3, **cfg: float) -> SimForecaster:
    sim = settings(outdoor=None, seed=seed)
    weather = Weather(sim.weather, seed, T0)
    return SimForecaster(weather, ForecastSimConfig.model_validate(cfg), seed)


def errors(fc: SimForecaster, issues: int) -> np.ndarray:
    """(issue, lead hour index) forecast minus truth."""
    rows = []
    for k in range(issues):
        f = fc.issue("z", T0 + k * 6 * H + 600.0)
        rows.append([p.outdoor_temp - fc.weather.temperature(p.at) for p in f.points])
    return np.array(rows)


def test_points_are_the_whole_hours_after_the_issue() -> None:
    f = forecaster(horizon_h=12).issue("z1", T0 + 600.0)
    assert (f.zone, f.source, f.issued_at) == ("z1", "sim", T0 + 600.0)
    assert [p.at for p in f.points] == [T0 + (k + 1) * H for k in range(12)]


def test_no_error_configured_is_the_truth() -> None:
    fc = forecaster(noise_k_24h=0.0, bias_k=0.0)
    assert np.abs(errors(fc, 5)).max() <= 0.005  # rounding to 0.01 K


def test_error_has_the_bias_and_grows_with_lead() -> None:
    fc = forecaster(noise_k_24h=2.0, bias_k=-1.0)
    err = errors(fc, 400)
    lead_h = np.arange(48) + 50 / 60  # issued 10 min past the hour
    assert abs(err.mean() + 1.0) < 0.25
    spread = err.std(axis=0)
    expected = 2.0 * np.sqrt(lead_h / 24.0)
    for i in (0, 5, 23, 47):
        assert spread[i] == pytest.approx(expected[i], rel=0.2), i
    assert spread[47] > 3 * spread[0]
    # smooth over lead: neighbouring hours' errors are strongly correlated
    assert np.corrcoef(err[:, 11], err[:, 12])[0, 1] > 0.9


def test_seeded_and_pure_in_issue_time() -> None:
    a, b, c = forecaster(seed=3), forecaster(seed=3), forecaster(seed=4)
    assert a.issue("z", T0) == b.issue("z", T0)
    assert a.issue("z", T0).points != c.issue("z", T0).points
    # every zone of the city gets the same forecast at the same issue time
    assert a.issue("z", T0).points == a.issue("y", T0).points


def test_publisher_sends_each_issue_once_and_skips_missed_ones() -> None:
    fc = forecaster(interval_s=2 * H)  # T0 is a multiple of 2 h since the epoch
    pub = ForecastPublisher(fc, ["a", "b"], "heat", T0 + 600.0)
    first = pub.due(T0 + 600.0)  # the issue current at the start goes out at once
    assert [m.topic for m in first] == ["heat/_weather/a/forecast", "heat/_weather/b/forecast"]
    assert all(m.retain for m in first)
    f = decode_forecast(first[0].topic, first[0].payload, prefix="heat", now=T0 + 600.0)
    assert f.issued_at == T0 and f.source == "sim"
    assert pub.due(T0 + 1.9 * H) == []
    later = pub.due(T0 + 9 * H)  # issues at 2, 4 and 6 h were missed: only 8 h goes out
    f = decode_forecast(later[0].topic, later[0].payload, prefix="heat", now=T0 + 9 * H)
    assert f.issued_at == T0 + 8 * H
    assert pub.due(T0 + 9.9 * H) == []
    assert pub.published == 4


def test_simulation_publishes_forecasts_when_enabled() -> None:
    sim_settings = settings(stations=4, duration="3h", forecast={"enabled": True,
                                                                 "horizon_h": 24})
    sim = Simulation(sim_settings)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    fc_msgs = [m for m in sink.messages if "/_weather/" in m.topic]
    zones = sorted(set(sim.fleet.layout.zones))
    assert len(fc_msgs) == 3 * len(zones)  # the start's issue, then hourly: 00, 01, 02 h
    start = sim.fleet.start
    f = decode_forecast(fc_msgs[-1].topic, fc_msgs[-1].payload, prefix="heat", now=start + 3 * H)
    assert f.issued_at == start + 2 * H and len(f.points) == 24


def test_off_by_default() -> None:
    sim = Simulation(settings(stations=2, duration="2h"))
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    assert sim.forecasts is None
    assert not [m for m in sink.messages if "/_weather/" in m.topic]
