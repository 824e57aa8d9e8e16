"""The fit recovers known parameters of simulated buildings, and says which it cannot fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from thermal_helpers import buildings

from forecast.thermal import (
    Drive,
    FitOptions,
    Flat,
    advance,
    fit,
    fit_arrays,
    grid_mean,
    load_models,
    report,
    save_models,
)


def test_fit_recovers_time_constants_where_the_heating_switches_off() -> None:
    """A station that switches off at night shows the building cooling on its own: there
    the time constant (1/b) and the radiator coupling (a) are recovered within a few %."""
    s = buildings()
    a, b, _c, err, _used, ok, reason = fit_arrays(s.indoor, s.station_of, s.drive)
    assert ok.all(), [r for r in reason if r]
    informative = s.switches_off[s.station_of]
    tau_err = np.abs(1 / b - 1 / s.b) * s.b
    a_err = np.abs(a - s.a) / s.a
    assert np.median(tau_err[informative]) < 0.04
    assert np.percentile(tau_err[informative], 90) < 0.10
    assert np.median(a_err[informative]) < 0.04
    # the 12 h error is the sensor's noise (0.15 K), not the model's
    assert np.median(err[:, -1]) < 0.25
    assert np.median(err[:, 0]) < 0.25


def test_fit_on_continuous_heating_predicts_as_well() -> None:
    """Without switch-offs, supply follows outdoor along the curve and a/b are only known
    together: the prior picks a physical split, the prediction error stays at the noise."""
    s = buildings(seed=2)
    _a, b, _c, err, _used, _ok, _ = fit_arrays(s.indoor, s.station_of, s.drive)
    steady = ~s.switches_off[s.station_of]
    assert np.median(err[steady, -1]) < 0.25
    assert np.median(np.abs(1 / b[steady] - 1 / s.b[steady]) * s.b[steady]) < 0.2


def test_fit_agrees_with_scipy_least_squares() -> None:
    """The batched linear fit reaches the parameters scipy's least_squares finds when it
    fits the same flat's 12 h windows directly (output error), on switching stations."""
    s = buildings(seed=3, stations=6, flats=30)
    a, b, _c, *_ = fit_arrays(s.indoor, s.station_of, s.drive)
    flats = [i for i in range(30) if s.switches_off[s.station_of[i]]][:4]
    assert flats
    for i in flats:
        st = s.station_of[i]
        y = s.indoor[i]
        starts = [k for k in range(0, y.size - 12, 5) if np.isfinite(y[k])]

        def residuals(theta: np.ndarray, st: int = st, y: np.ndarray = y,
                      starts: list[int] = starts) -> np.ndarray:
            pa, pb, pc = np.exp(theta[0]), np.exp(theta[1]), theta[2]
            out = []
            for k0 in starts:
                t = np.array([y[k0]])
                for k in range(k0, k0 + 12):
                    t = advance(t, s.drive.heat[st, k:k + 1], s.drive.on[st, k:k + 1],
                                s.drive.outdoor[st, k:k + 1], pa, pb, pc, 1.0)
                    out.append(np.nan_to_num(y[k + 1] - t[0]) if np.isfinite(y[k + 1])
                               else 0.0)
            return np.asarray(out)

        ref = least_squares(residuals, [np.log(1 / 30), np.log(1 / 30), 0.0]).x
        assert abs(np.exp(ref[1]) - b[i]) / np.exp(ref[1]) < 0.08
        assert abs(np.exp(ref[0]) - a[i]) / np.exp(ref[0]) < 0.08
        assert abs(1 / b[i] - 1 / s.b[i]) * s.b[i] < 0.1


def test_fit_refuses_flats_with_too_little_data_and_lists_them(tmp_path: Path) -> None:
    s = buildings(seed=4, stations=4, flats=12)
    indoor = s.indoor.copy()
    indoor[0, 48:] = np.nan  # two days of data only
    indoor[1] = np.nan  # never reported
    heat = s.drive.heat.copy()
    heat[s.station_of[2]] = np.nan  # its station said nothing
    drive = Drive(s.drive.t0, s.drive.step_s, heat, s.drive.on, s.drive.outdoor)
    flats = [Flat("z", f"st-{s.station_of[i]}", f"m{i}") for i in range(12)]
    stations = [f"st-{k}" for k in range(4)]
    models = fit(flats, indoor, stations, drive, FitOptions())
    assert models.refused[flats[0].key] == "too little data"
    assert models.refused[flats[1].key] == "too little data"
    assert models.refused[flats[2].key] == "no station data"
    same_station = {flats[i].key for i in range(12) if s.station_of[i] == s.station_of[2]}
    assert set(models.refused) == {flats[0].key, flats[1].key} | same_station
    assert len(models) == 12 - len(models.refused)
    rep = report(models)
    assert rep.fitted == len(models)
    assert 25 <= rep.tau_off_median_h <= 45 or rep.fitted < 3
    path = tmp_path / "models.npz"
    models.run_through = {"st-1": -12.5}
    save_models(models, path)
    back = load_models(path)
    assert back.meter == models.meter and back.refused == models.refused
    assert back.run_through == {"st-1": -12.5}
    assert np.array_equal(back.a, models.a) and np.array_equal(back.err, models.err)


def test_models_error_by_lead_interpolates() -> None:
    s = buildings(seed=5, stations=4, flats=8)
    flats = [Flat("z", f"st-{s.station_of[i]}", f"m{i}") for i in range(8)]
    models = fit(flats, s.indoor, [f"st-{k}" for k in range(4)], s.drive)
    e = models.error_at(1800.0)
    assert np.allclose(e, models.err[:, 0] / 2)
    assert np.allclose(models.error_at(12 * 3600.0), models.err[:, -1])
    assert np.allclose(models.error_at(40 * 3600.0), models.err[:, -1])


def test_grid_mean_averages_each_step_and_leaves_gaps() -> None:
    t = np.array([0.0, 100.0, 3700.0, 3800.0, 9000.0, np.nan])
    v = np.array([1.0, 3.0, 5.0, np.nan, 7.0, 1.0])
    out = grid_mean(t, v, 0.0, 3600.0, 4)
    assert out[0] == 2.0 and out[1] == 5.0 and out[2] == 7.0 and np.isnan(out[3])
