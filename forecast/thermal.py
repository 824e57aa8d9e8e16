"""Each flat's thermal model, fitted from its own history (``heatwatch forecast fit``).

One node per flat, the building's air and mass together (first order)::

    dT/dt = a · on · (Ts - T)  +  b · (To - T)  +  c

``T`` is what the flat's sensor reads, ``Ts`` its station's secondary supply, ``on`` the share
of the time the station delivers heat (0 while it is switched off: the pump stops and the
radiators go cold, whatever the supply probe in the plant room says), ``To`` the outdoor
temperature; ``a`` (1/h) is how hard the radiators pull the flat towards the supply, ``b``
(1/h) how fast it loses heat outside (``1/b`` is the building's time constant with the
heating off), ``c`` (K/h) internal gains and the sensor's bias. With the heating on the flat
settles with the shorter time constant ``1/(a + b)``. Linear in ``T``, so a step with
constant inputs is exact (an exponential), whatever its length.

Why first order: the simulator's flats are one slow node (25-45 h), so its data cannot
justify a second one (the 12 h error is already the sensor's noise there), no real flat data
was at hand to show a need, and three parameters are what a fortnight of one noisy sensor can
carry (docs/forecast.md, "Model limits").

Why fitted on 12 h windows (multiple shooting) rather than one step ahead: the hourly change of
a 30 h building is a few tenths of a kelvin, the size of the sensor's noise, so a one-step
regression is mostly noise (and biased towards too slow buildings). Each window starts from
the observed temperature and is simulated over the prediction horizon, which is exactly the
question the predictor asks; its error per lead is what the alerts quote as how sure they are.

Why a batched Levenberg-Marquardt in numpy and not one ``scipy.optimize.least_squares`` call
per flat: the same damped Gauss-Newton steps, but over every flat of a chunk at once (three
parameters each: a 3x3 solve per flat); scipy per flat costs a Python call per residual
evaluation and takes hours for a city. tests/forecast/test_thermal.py checks both reach the
same parameters; bench/forecast_bench.py measures both.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "Drive",
    "FitOptions",
    "FitReport",
    "Flat",
    "Models",
    "advance",
    "by_zone",
    "delivering",
    "fit",
    "fit_arrays",
    "grid_mean",
    "load_models",
    "report",
    "save_models",
    "simulate",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

_PRIOR_TAU_H = 30.0  # where a poorly identified flat's time constants are pulled to
PRIOR_RIDGE = 1e-4  # its weight, relative to the data's own


@dataclass(frozen=True, slots=True)
class Drive:
    """Station inputs on a regular time grid (one row per station, one column per step).

    ``heat`` is the mean of ``on · Ts`` over the step (so a step that was delivering half the
    time counts half, and a switched-off station's probe temperature counts not at all),
    ``on`` the share of the step delivering heat, ``outdoor`` the mean outdoor temperature.
    NaN where the station said nothing.
    """

    t0: float
    step_s: float
    heat: F64
    on: F64
    outdoor: F64

    @property
    def steps(self) -> int:
        return int(self.heat.shape[1])

    def times(self) -> F64:
        out: F64 = self.t0 + self.step_s * np.arange(self.steps, dtype=np.float64)
        return out


def delivering(power: F64, supply: F64, ret: F64, power_kw: float, dt_k: float) -> F64:
    """1.0 where a station reading delivers heat, as :mod:`alerts.window` decides it (heat
    power at or above ``heating.delivering_kw`` where the reading has it, else a supply-return
    difference of ``heating.delivering_dt_k``), 0.0 where not, NaN without evidence."""
    by_power = np.where(power >= power_kw, 1.0, 0.0)
    by_dt = np.where(supply - ret >= dt_k, 1.0, 0.0)
    out: F64 = np.where(np.isfinite(power), by_power,
                        np.where(np.isfinite(supply - ret), by_dt, np.nan))
    return out


def grid_mean(t: F64, v: F64, t0: float, step_s: float, steps: int) -> F64:
    """Mean of the finite ``v`` in each step ``[t0 + k·step, t0 + (k+1)·step)``; NaN if none.

    Averaging four 15-minute readings halves the sensor's noise, which is what the fit is
    fighting (see the module docstring)."""
    pos = (t - t0) / step_s
    ok = np.isfinite(pos) & np.isfinite(v) & (pos >= 0) & (pos < steps)
    k = np.floor(np.where(ok, pos, 0.0)).astype(np.int64)
    total = np.bincount(k[ok], weights=v[ok], minlength=steps)
    count = np.bincount(k[ok], minlength=steps)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def advance(temp: F64, heat: F64, on: F64, outdoor: F64, a: F64, b: F64, c: F64,
            hours: float) -> F64:
    """The flats' temperatures ``hours`` later with the inputs held constant (exact)."""
    lam = a * on + b
    eq = (a * heat + b * outdoor + c) / lam
    out: F64 = eq + (temp - eq) * np.exp(-lam * hours)
    return out


def simulate(start: F64, heat: F64, on: F64, outdoor: F64, a: F64, b: F64, c: F64,
             hours: float) -> F64:
    """Trajectories from ``start`` (one per flat) under per-flat inputs of shape
    ``(flats, steps)``: the temperature at the end of every step."""
    out = np.empty_like(heat)
    temp = start
    for k in range(heat.shape[1]):
        temp = advance(temp, heat[:, k], on[:, k], outdoor[:, k], a, b, c, hours)
        out[:, k] = temp
    return out


@dataclass(frozen=True, slots=True)
class FitOptions:
    horizon_steps: int = 12  # window length: the prediction horizon, in grid steps
    stride_steps: int = 5  # a window starts every this many steps (not a divisor of 24 h)
    min_windows: int = 12  # fewer complete windows: too little data, refused
    max_error_k: float = 1.5  # RMSE at the horizon above this: refused as a poor fit
    chunk_cells: int = 4_000_000  # flats x steps per batch (bounds memory)


@dataclass(slots=True)
class Models:
    """Fitted flats (aligned arrays) and what the fit refused."""

    station: list[str]  # station id per fitted flat
    meter: list[str]
    zone: list[str]
    a: F64
    b: F64
    c: F64
    err: F32  # (flats, horizon_steps): RMSE of the fit's windows by lead (K)
    windows: I64  # complete windows each fit used
    step_s: float
    fitted_from: float
    fitted_to: float
    refused: dict[str, str] = field(default_factory=dict)  # "station/meter" -> reason
    # per station, the outdoor temperature under which it ran through its planned off
    # windows in the fit's history (forecast.predict.learn_run_through); absent: never did
    run_through: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.meter)

    def error_at(self, lead_s: F64 | float) -> F64:
        """Each flat's expected error (K) at ``lead_s`` seconds ahead: the fit's RMSE at that
        lead, interpolated between the window's steps (and held beyond its end)."""
        leads = self.step_s * np.arange(0, self.err.shape[1] + 1, dtype=np.float64)
        table = np.concatenate([np.zeros((len(self), 1)), self.err.astype(np.float64)], 1)
        lead = np.broadcast_to(np.asarray(lead_s, dtype=np.float64), (len(self),))
        pos = np.clip(lead / self.step_s, 0, leads.size - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, leads.size - 1)
        frac = pos - lo
        rows = np.arange(len(self))
        out: F64 = table[rows, lo] * (1 - frac) + table[rows, hi] * frac
        return out


@dataclass(frozen=True, slots=True)
class FitReport:
    """What ``heatwatch forecast fit`` prints: per fitted flat its error, and the refusals."""

    fitted: int
    refused: dict[str, str]
    rmse_horizon_median: float
    rmse_horizon_p90: float
    tau_off_median_h: float


def fit_arrays(
    indoor: F64,
    station_of: I64,
    drive: Drive,
    opts: FitOptions = FitOptions(),
) -> tuple[F64, F64, F64, F32, I64, B, list[str]]:
    """Fit every flat (rows of ``indoor``, on ``drive``'s grid) whose station is row
    ``station_of[i]`` of ``drive``.

    Returns ``a, b, c, err, windows, ok, reason``: parameters (NaN where refused), the RMSE by
    lead, the windows used, which flats were fitted and, for the others, why not
    (``too little data``, ``no station data``, ``poor fit``).
    """
    n, steps = indoor.shape
    horizon = opts.horizon_steps
    hours = drive.step_s / 3600.0
    starts = np.arange(0, steps - horizon, opts.stride_steps, dtype=np.int64)
    a = np.full(n, np.nan)
    b = np.full(n, np.nan)
    c = np.full(n, np.nan)
    err = np.full((n, horizon), np.nan, dtype=np.float32)
    used = np.zeros(n, dtype=np.int64)
    reason = [""] * n
    if starts.size == 0:
        return a, b, c, err, used, np.zeros(n, bool), ["too little data"] * n
    station_ok = np.asarray(np.isfinite(drive.heat).any(1) & np.isfinite(drive.outdoor).any(1))
    # A window counts when its start and at least half of its steps were observed and the
    # station's inputs are known throughout.
    span = starts[:, None] + np.arange(horizon + 1)[None, :]
    inputs_ok = (np.isfinite(drive.heat) & np.isfinite(drive.on) & np.isfinite(drive.outdoor))
    st_window_ok = np.asarray(inputs_ok[:, span[:, :-1]].all(2))  # (stations, windows)
    # flats in chunks: a city's fortnight is 134 M cells, its temporaries must not be
    chunk = max(1, opts.chunk_cells // max(steps, 1))
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(n, lo + chunk))
        y = indoor[idx].astype(np.float64)
        st = station_of[idx]
        obs = np.isfinite(y)
        seen = obs[:, span[:, 1:]].sum(2) * 2 >= horizon
        valid = obs[:, starts] & seen & st_window_ok[st]
        used[idx] = valid.sum(1)
        todo = station_ok[st] & (used[idx] >= opts.min_windows)
        for i in idx[~station_ok[st]]:
            reason[i] = "no station data"
        for i in idx[station_ok[st] & ~todo]:
            reason[i] = "too little data"
        if not todo.any():
            continue
        sel = idx[todo]
        heat = drive.heat[st[todo]]
        on = drive.on[st[todo]]
        out = drive.outdoor[st[todo]]
        pa, pb, pc = _integral_fit(y[todo], heat, on, out, horizon, hours)
        a[sel], b[sel], c[sel] = pa, pb, pc
        err[sel] = _lead_errors(y[todo], valid[todo], starts, np.nan_to_num(heat),
                                np.nan_to_num(on), np.nan_to_num(out), pa, pb, pc, horizon,
                                hours)
    ok = np.array([r == "" for r in reason], dtype=bool)
    poor = ok & ~(err[:, -1] <= opts.max_error_k)
    for i in np.flatnonzero(poor):
        reason[i] = "poor fit"
    ok &= ~poor
    return a, b, c, err, used, ok, reason


def _integral_fit(indoor: F64, heat: F64, on: F64, out: F64, length: int,
                  hours: float) -> tuple[F64, F64, F64]:
    """Least squares on the model integrated over every ``length``-step window:

        T[k+L] - T[k] = a · Σ (heat - on·T̄) h + b · Σ (To - T̄) h + c · L h

    with ``T̄`` the trapezoid of the observed temperatures. Linear in ``a, b, c``: a 3x3
    solve per flat for the whole city at once. The sums average the sensor's noise away
    while the regressors grow with the window (tens of kelvin-hours against a few tenths of
    noise), so the errors-in-variables bias of a one-step regression is gone.
    """
    m, steps = indoor.shape
    mid = (indoor[:, :-1] + indoor[:, 1:]) / 2  # (m, steps-1): step j's mean temperature
    h, o, t = heat[:, :-1], on[:, :-1], out[:, :-1]
    g1 = (h - o * mid) * hours
    g2 = (t - mid) * hours
    ok = np.isfinite(g1) & np.isfinite(g2)
    zero = np.zeros((m, 1))
    c1 = np.concatenate([zero, np.cumsum(np.where(ok, g1, 0.0), 1)], 1)
    c2 = np.concatenate([zero, np.cumsum(np.where(ok, g2, 0.0), 1)], 1)
    cbad = np.concatenate([zero, np.cumsum(~ok, 1)], 1)
    k = np.arange(0, steps - length)
    x1 = c1[:, k + length] - c1[:, k]
    x2 = c2[:, k + length] - c2[:, k]
    dy = indoor[:, k + length] - indoor[:, k]
    w = ((cbad[:, k + length] - cbad[:, k]) == 0) & np.isfinite(dy)
    x1, x2, dy = (np.where(w, v, 0.0) for v in (x1, x2, dy))
    x3 = np.where(w, length * hours, 0.0)
    cols = (x1, x2, x3)
    ata = np.empty((m, 3, 3))
    atb = np.empty((m, 3))
    for p in range(3):
        atb[:, p] = (cols[p] * dy).sum(1)
        for q in range(p, 3):
            ata[:, p, q] = ata[:, q, p] = (cols[p] * cols[q]).sum(1)
    # A weak prior on the heat loss (time constant _PRIOR_TAU_H): a flat whose station never
    # switched off has a supply that follows the outdoor temperature along the curve, so
    # radiators and losses cannot be told apart in its data; the prior picks the physical
    # split and leaves flats with informative data (switch-offs) to their own numbers.
    ridge = PRIOR_RIDGE * ata[:, 1, 1] + 1e-12
    ata[:, 1, 1] += ridge
    atb[:, 1] += ridge / _PRIOR_TAU_H
    ata[:, 0, 0] += 1e-9 * ata[:, 0, 0] + 1e-12
    sol = np.linalg.solve(ata, atb[:, :, None])[:, :, 0]
    # time constants stay physical: some heat loss, never a negative radiator
    a: F64 = np.clip(sol[:, 0], 1e-4, 1.0)
    b: F64 = np.clip(sol[:, 1], 1.0 / 500.0, 1.0)
    c = np.asarray(sol[:, 2], dtype=np.float64)
    return a, b, c


def _lead_errors(indoor: F64, valid: B, starts: I64, heat: F64, on: F64, out: F64, a: F64,
                 b: F64, c: F64, horizon: int, hours: float) -> F32:
    """RMSE of the fitted model on its windows, per lead step."""
    m = indoor.shape[0]
    temp = np.where(valid, np.nan_to_num(indoor[:, starts]), 0.0)
    err = np.zeros((m, horizon), dtype=np.float32)
    pa, pb, pc = a[:, None], b[:, None], c[:, None]
    for j in range(horizon):
        k = starts + j
        temp = advance(temp, heat[:, k], on[:, k], out[:, k], pa, pb, pc, hours)
        y = indoor[:, k + 1]
        mask = valid & np.isfinite(y)
        r = np.where(mask, np.nan_to_num(y) - temp, 0.0)
        count = np.maximum(mask.sum(1), 1)
        err[:, j] = np.sqrt((r * r).sum(1) / count)
    return err


@dataclass(frozen=True, slots=True)
class Flat:
    zone: str
    station: str
    meter: str

    @property
    def key(self) -> str:
        return f"{self.station}/{self.meter}"


def fit(flats: list[Flat], indoor: F64, stations: list[str], drive: Drive,
        opts: FitOptions = FitOptions()) -> Models:
    """Fit every flat (row of ``indoor``) on its station's row of ``drive``
    (``stations`` names the rows); refused flats are listed with the reason."""
    row = {s: i for i, s in enumerate(stations)}
    station_of = np.array([row.get(f.station, -1) for f in flats], dtype=np.int64)
    missing = station_of < 0
    a, b, c, err, used, ok, reason = fit_arrays(indoor, np.where(missing, 0, station_of),
                                                drive, opts)
    ok &= ~missing
    refused = {f.key: ("no station data" if missing[i] else reason[i])
               for i, f in enumerate(flats) if not ok[i]}
    keep = np.flatnonzero(ok)
    return Models(
        station=[flats[i].station for i in keep], meter=[flats[i].meter for i in keep],
        zone=[flats[i].zone for i in keep], a=a[keep], b=b[keep], c=c[keep], err=err[keep],
        windows=used[keep], step_s=drive.step_s, fitted_from=drive.t0,
        fitted_to=drive.t0 + drive.step_s * drive.steps, refused=refused,
    )


def report(models: Models) -> FitReport:
    last = models.err[:, -1].astype(np.float64) if len(models) else np.zeros(0)
    tau = 1.0 / models.b if len(models) else np.zeros(0)
    return FitReport(
        fitted=len(models), refused=dict(models.refused),
        rmse_horizon_median=float(np.median(last)) if last.size else float("nan"),
        rmse_horizon_p90=float(np.percentile(last, 90)) if last.size else float("nan"),
        tau_off_median_h=float(np.median(tau)) if tau.size else float("nan"),
    )


def by_zone(models: Models) -> dict[str, dict[str, float]]:
    """A zone's model as the distribution of its flats' models: per zone the flats fitted,
    the heating-off time constant (p10, median, p90, hours) and the median 12 h error."""
    zones = np.asarray(models.zone)
    out: dict[str, dict[str, float]] = {}
    for zone in sorted(set(models.zone)):
        m = zones == zone
        tau = 1.0 / models.b[m]
        out[zone] = {
            "flats": float(m.sum()),
            "tau_off_p10_h": float(np.percentile(tau, 10)),
            "tau_off_median_h": float(np.median(tau)),
            "tau_off_p90_h": float(np.percentile(tau, 90)),
            "err_12h_median_k": float(np.median(models.err[m, -1])),
        }
    return out


def save_models(models: Models, path: Path) -> None:
    """One ``.npz`` file, replaced atomically (write aside, then rename).

    A file, not SQLite: the predictor always needs every model at once, and 400,000 flats
    load from one file of arrays in well under a second, where 400,000 rows would be read
    and converted one by one; nobody queries a single model (the API serves predictions)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    meta = {"step_s": models.step_s, "fitted_from": models.fitted_from,
            "fitted_to": models.fitted_to, "refused": models.refused, "version": 1,
            "run_through": models.run_through}
    np.savez(
        tmp, station=np.array(models.station, dtype=str), meter=np.array(models.meter, dtype=str),
        zone=np.array(models.zone, dtype=str), a=models.a, b=models.b, c=models.c,
        err=models.err, windows=models.windows, meta=np.array(json.dumps(meta)),
    )
    os.replace(tmp, path)


def load_models(path: Path) -> Models:
    """Read a models file written by :func:`save_models`; a missing or corrupt file is a
    :class:`ValueError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return Models(
                station=[str(x) for x in z["station"]], meter=[str(x) for x in z["meter"]],
                zone=[str(x) for x in z["zone"]], a=z["a"], b=z["b"], c=z["c"],
                err=z["err"], windows=z["windows"], step_s=float(meta["step_s"]),
                fitted_from=float(meta["fitted_from"]), fitted_to=float(meta["fitted_to"]),
                refused={str(k): str(v) for k, v in meta["refused"].items()},
                run_through={str(k): float(v)
                             for k, v in meta.get("run_through", {}).items()},
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a forecast models file ({exc})") from exc
