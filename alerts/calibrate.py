"""Learn a station's normal from its own history (``heatwatch rules calibrate``).

Real stations do not follow one fleet-wide weather curve: each controller has its own curve,
its own night regime (switched off, or run through with a reduced setpoint) and its own restart
transient. Judged against the defaults they alert every night and every morning. This module
turns a station's stored history into the values the rules need, with pure numpy/scipy code
(no I/O: :mod:`alerts.calibrate_history` reads, :mod:`alerts.calibrate_file` writes):

* **heating on/off** per reading: heat meter power above a share of the station's own high
  power, and the secondary supply-return difference not collapsed (either test alone when the
  other field is missing);
* **weather curve**: a piecewise-linear curve (2-4 points, free knots, clamped outside like
  :func:`alerts.schedule.curve_setpoint`) fitted to secondary supply against outdoor
  temperature with scipy's robust ``soft_l1`` loss, on readings while heating is on, not
  warming up and not in the learned setback window; more points only when they pay for
  themselves (robust cost down by 10 %);
* **off windows**: local-time bins (15 min) in which the station was off on at least a given
  share of heating nights;
* **setback**: the bins where, on nights it ran through, supply stayed well under the curve;
* **warm-up**: how long supply takes after a restart to come within 3 K of the curve;
* supply-return difference, return range, make-up baseline and reporting interval.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from alerts.config import HeatingSchedule
from alerts.schedule import heating_on

__all__ = [
    "Calibration",
    "CalibrationOptions",
    "CurveFit",
    "Setback",
    "StationHistory",
    "TooLittleData",
    "Window",
    "calibrate_station",
    "curve_at",
    "fit_curve",
    "heat_state",
    "power_threshold",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

BIN_S = 900  # local-time resolution of off and setback windows
BINS = 86400 // BIN_S
OFF_DT_K = 1.5  # secondary supply-return difference under this: no heat delivered
POWER_ON_SHARE = 0.05  # of the station's 95th-percentile heat power
WARMUP_TOLERANCE_K = 3.0  # warm-up ends when supply is within this of the curve
OFFLINE_CATCH_S = 7200.0  # station_offline must catch a gap of this long
SETBACK_MIN_BINS = 8  # a setback is hours long; one odd hour is a transient
RUN_THROUGH = (18 * 3600 // BIN_S, 9 * 3600 // BIN_S)  # a night "ran through": on 18:00-09:00


class TooLittleData(ValueError):
    """The history cannot support a guess; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class StationHistory:
    """One station's readings as arrays in time order; NaN where a field was not sent."""

    station: str
    t: FloatArray  # epoch seconds
    outdoor: FloatArray
    supply: FloatArray
    ret: FloatArray
    setpoint: FloatArray
    power: FloatArray
    flow: FloatArray
    makeup: FloatArray

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True, slots=True)
class CalibrationOptions:
    """Thresholds of the calibration (``heatwatch rules calibrate`` flags)."""

    schedule: HeatingSchedule  # season and time zone the windows are learned in
    min_curve_hours: int = 200  # distinct hours with steady heating and outdoor data
    min_nights: int = 10  # heating nights needed to learn off/setback windows
    off_share: float = 0.5  # off on at least this share of heating nights = planned off
    resume_share: float = 0.1  # the window ends once at most this share of nights is still off
    max_points: int = 4
    setback_min_k: float = 3.0  # a night cut smaller than this is not called a setback
    default_warmup_s: float = 5400.0  # excluded after each restart before warm-up is learned


@dataclass(frozen=True, slots=True)
class CurveFit:
    points: tuple[tuple[float, float], ...]  # (outdoor_c, supply_c), outdoor increasing
    rmse: float
    mae: float
    samples: int
    hours: int  # distinct clock hours the samples came from
    low_k: float  # 1st percentile of supply minus curve: how far under it normal dips go

    def at(self, outdoor: FloatArray) -> FloatArray:
        return curve_at(outdoor, self.points)


@dataclass(frozen=True, slots=True)
class Window:
    """A daily local-time window; ``end`` may be earlier than ``start`` (wraps midnight)."""

    start: dt.time
    end: dt.time
    share: float  # worst share of nights the behaviour held in the window's bins

    def text(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Setback:
    window: Window
    k: float  # median cut under the curve in the window, K
    nights: int  # nights it was measured on
    source: str  # "supply_setpoint" (every night) or "supply" (nights run through)


@dataclass(slots=True)
class Calibration:
    """Everything learned for one station; ``notes`` explain what could not be learned."""

    station: str
    start: float
    end: float
    curve: CurveFit
    heating_nights: int = 0
    off_windows: tuple[Window, ...] = ()
    setback: Setback | None = None
    warmup_s: float | None = None
    restarts: int = 0
    dt_k: tuple[float, float, float] | None = None  # supply-return p5, median, p95
    return_c: tuple[float, float] | None = None  # return p1, p99
    makeup_ratio: tuple[float, float, int] | None = None  # median, p99, samples
    delivering_kw: float | None = None  # heat power above which it delivers heat
    interval_s: float | None = None
    setpoint_diff: tuple[float, float, int] | None = None  # mean, MAE of setpoint - curve, n
    notes: list[str] = field(default_factory=list)


def curve_at(outdoor: FloatArray, points: tuple[tuple[float, float], ...]) -> FloatArray:
    """Piecewise linear, clamped at both ends: what :func:`alerts.schedule.curve_setpoint`
    computes for one reading, for many at once."""
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    return np.asarray(np.interp(outdoor, xs, ys), dtype=np.float64)


# ---------------------------------------------------------------------------- heat on/off

def power_threshold(h: StationHistory) -> float | None:
    """Heat power above which the station delivers heat: a share of its own high power
    (a fleet-wide kW figure is too high for a small station and too low for a big one)."""
    known = np.isfinite(h.power)
    if not known.any():
        return None
    return max(POWER_ON_SHARE * float(np.percentile(h.power[known], 95)), 1e-6)


def heat_state(h: StationHistory) -> tuple[BoolArray, BoolArray]:
    """(on, known) per reading, as the rules judge "delivering" (``heating.delivering_kw`` /
    ``delivering_dt_k``): heat power where the reading has it, else the secondary
    supply-return difference; unknown with neither."""
    power_known = np.isfinite(h.power)
    dt_k = h.supply - h.ret
    dt_known = np.isfinite(dt_k)
    threshold = power_threshold(h)
    by_power = np.nan_to_num(h.power) > (threshold or 0.0)
    by_dt = np.nan_to_num(dt_k) > OFF_DT_K
    on = np.where(power_known, by_power, by_dt)
    known = power_known | dt_known
    return on & known, known


# ---------------------------------------------------------------------------- curve fit

def fit_curve(outdoor: FloatArray, supply: FloatArray, t: FloatArray,
              max_points: int = 4) -> CurveFit:
    """Robust piecewise-linear fit of supply against outdoor temperature.

    The end knots sit at the 1st and 99th outdoor percentile (the curve is clamped beyond,
    like a controller's); interior knots are free. ``soft_l1`` with a 1 K scale keeps a
    minority of odd readings (a slow restart, a manual override) from bending the curve.
    """
    n = len(outdoor)
    if n < 10:
        raise TooLittleData(f"{n} readings to fit a curve")
    step = max(1, n // 20000)  # a few thousand points pin a 4-point curve; keep it quick
    x, y = outdoor[::step], supply[::step]
    lo, hi = (float(v) for v in np.percentile(x, [1, 99]))
    if hi - lo < 2.0:
        raise TooLittleData(f"outdoor temperature spans only {hi - lo:.1f} K")
    best: tuple[float, tuple[tuple[float, float], ...]] | None = None
    for k in range(2, max(2, max_points) + 1):
        cost, points = _fit_points(x, y, k, lo, hi)
        if best is None or cost < 0.9 * best[0]:
            best = (cost, points)
    assert best is not None
    points = best[1]
    resid = curve_at(outdoor, points) - supply
    return CurveFit(
        points=points,
        rmse=float(np.sqrt(np.mean(resid ** 2))),
        mae=float(np.mean(np.abs(resid))),
        low_k=float(np.percentile(-resid, 1)),
        samples=n,
        hours=len(np.unique(t // 3600)),
    )


def _fit_points(x: FloatArray, y: FloatArray, k: int, lo: float,
                hi: float) -> tuple[float, tuple[tuple[float, float], ...]]:
    inner0 = np.linspace(lo, hi, k)[1:-1]
    knots0 = np.concatenate(([lo], inner0, [hi]))
    ys0 = np.array([_median_near(x, y, kx, (hi - lo) / (2 * (k - 1))) for kx in knots0])

    def knots(p: FloatArray) -> FloatArray:
        return np.concatenate(([lo], np.sort(p[: k - 2]), [hi]))

    def residual(p: FloatArray) -> FloatArray:
        return np.interp(x, knots(p), p[k - 2:]) - y

    p0 = np.concatenate((inner0, ys0))
    bounds_lo = np.concatenate((np.full(k - 2, lo + 0.5), np.full(k, -50.0)))
    bounds_hi = np.concatenate((np.full(k - 2, hi - 0.5), np.full(k, 150.0)))
    if k > 2 and hi - lo <= 1.0:
        return math.inf, ()
    res = least_squares(residual, p0, loss="soft_l1", f_scale=1.0,
                        bounds=(bounds_lo, bounds_hi), x_scale=1.0)
    xs = knots(res.x)
    ys = res.x[k - 2:]
    points: list[tuple[float, float]] = []
    for px, py in zip(xs, ys, strict=True):
        rx, ry = round(float(px), 1), round(float(py), 1)
        if points and rx - points[-1][0] < 1.0:  # knots that merged: keep one
            continue
        points.append((rx, ry))
    if len(points) < 2:
        return math.inf, ()
    return float(res.cost), tuple(points)


def _median_near(x: FloatArray, y: FloatArray, at: float, half: float) -> float:
    near = np.abs(x - at) <= max(half, 0.5)
    return float(np.median(y[near])) if near.any() else float(np.median(y))


# ---------------------------------------------------------------------------- local clock

@dataclass(frozen=True, slots=True)
class _Clock:
    """Local time of each reading: its 15-minute bin of the day and its night.

    A night is keyed by the local date of (time - 12 h), so 22:00 and the following 04:00
    belong to the same night.
    """

    bin: npt.NDArray[np.int64]
    night: npt.NDArray[np.int64]


def _clock(t: FloatArray, tz: ZoneInfo) -> _Clock:
    # One tz conversion per distinct UTC hour (offsets change on the hour), not per reading.
    hours = np.floor(t / 3600).astype(np.int64)
    uniq, inverse = np.unique(hours, return_inverse=True)
    offsets = np.array([
        dt.datetime.fromtimestamp(float(u) * 3600, tz).utcoffset() or dt.timedelta()
        for u in uniq
    ], dtype=object)
    off_s = np.array([o.total_seconds() for o in offsets], dtype=np.float64)[inverse]
    local = t + off_s
    sec_of_day = np.mod(local, 86400)
    bins = (sec_of_day // BIN_S).astype(np.int64)
    night = np.floor((local - 43200) / 86400).astype(np.int64)
    return _Clock(bin=bins, night=night)


def _bin_time(b: int) -> dt.time:
    s = (b % BINS) * BIN_S
    return dt.time(s // 3600, (s % 3600) // 60)


def _runs(mask: npt.NDArray[np.bool_], min_bins: int) -> list[tuple[int, int]]:
    """Circular runs of True as (first bin, bins long), at least ``min_bins`` long."""
    if mask.all():
        return [(0, BINS)]
    start = int(np.argmin(mask))  # a False bin: no run crosses the scan's start
    runs: list[tuple[int, int]] = []
    first, length = -1, 0
    for i in range(1, BINS + 1):
        b = (start + i) % BINS
        if mask[b]:
            if length == 0:
                first = b
            length += 1
        elif length:
            runs.append((first, length))
            length = 0
    return [r for r in runs if r[1] >= min_bins]


def _fill(values: FloatArray, stronger: float) -> FloatArray:
    """Bins without enough nights take the nearest bin's value that has them; halfway between
    two, the one further toward ``stronger`` (+1: higher, -1: lower). An hourly logger fills
    one bin in four: a switch-off between its 22:00 reading (on) and its 23:00 reading (off)
    is placed at 22:30, half an interval before the first reading that saw it, so a window
    learned from sparse data errs by at most half an interval, on the wide side."""
    known = np.flatnonzero(np.isfinite(values))
    if not len(known) or len(known) == BINS:
        return values
    out = values.copy()
    for b in np.flatnonzero(~np.isfinite(values)):
        after = known[np.searchsorted(known, b) % len(known)]
        before = known[np.searchsorted(known, b) - 1]
        d_after, d_before = (after - b) % BINS, (b - before) % BINS
        if d_after == d_before:
            out[b] = max(values[after] * stronger, values[before] * stronger) * stronger
        else:
            out[b] = values[after] if d_after < d_before else values[before]
    return out


# ---------------------------------------------------------------------------- windows

def _heating_nights(clock: _Clock, on: BoolArray, known: BoolArray, t: FloatArray,
                    in_season: BoolArray) -> npt.NDArray[np.int64]:
    """Nights in the season with data most hours and heat delivered a quarter of them."""
    nights = np.unique(clock.night[known & in_season])
    out = []
    for n in nights:
        m = (clock.night == n) & known
        hours = len(np.unique(t[m] // 3600))
        if hours >= 18 and on[m].mean() >= 0.25:
            out.append(n)
    return np.array(out, dtype=np.int64)


def _night_bin_share(clock: _Clock, nights: npt.NDArray[np.int64], value: BoolArray,
                     use: BoolArray, min_nights: int) -> tuple[FloatArray, FloatArray]:
    """Per bin: share of nights whose readings there were mostly ``value``; nights seen."""
    sel = use & np.isin(clock.night, nights)
    key = clock.night[sel] * BINS + clock.bin[sel]
    uniq, inverse = np.unique(key, return_inverse=True)
    mean = np.bincount(inverse, weights=value[sel].astype(np.float64)) / np.bincount(inverse)
    bins = uniq % BINS
    seen = np.bincount(bins, minlength=BINS).astype(np.float64)
    hit = np.bincount(bins, weights=(mean > 0.5).astype(np.float64), minlength=BINS)
    share = np.where(seen >= max(3, min_nights // 2), hit / np.maximum(seen, 1), np.nan)
    return _fill(share, +1.0), seen


def _off_windows(share: FloatArray, opts: CalibrationOptions) -> tuple[Window, ...]:
    """Runs of an hour or more off on at least ``off_share`` of nights, each extended until
    the heating is back on all but ``resume_share`` of nights.

    The end is when heat is owed again (``heating_not_resumed`` counts from it), so it is the
    usual *latest* restart, not the median one; the start stays where most nights are off.
    """
    runs = _runs(share >= opts.off_share, 4)
    out = []
    for k, (first, length) in enumerate(runs):
        core = float(min(share[(first + i) % BINS] for i in range(length)))
        limit = (runs[(k + 1) % len(runs)][0] - first) % BINS or BINS
        while length < limit and share[(first + length) % BINS] > opts.resume_share:
            length += 1
        out.append(Window(_bin_time(first), _bin_time(first + length), core))
    return tuple(out)


def _run_through(clock: _Clock, nights: npt.NDArray[np.int64], on: BoolArray,
                 known: BoolArray) -> npt.NDArray[np.int64]:
    """Heating nights on which the station delivered heat from 18:00 to 09:00 (95 % of its
    readings: one noisy reading does not make a night off)."""
    evening, morning = RUN_THROUGH
    night_bins = known & ((clock.bin >= evening) | (clock.bin < morning))
    sel = night_bins & np.isin(clock.night, nights)
    uniq, inverse = np.unique(clock.night[sel], return_inverse=True)
    share_on = np.bincount(inverse, weights=on[sel].astype(np.float64)) / np.bincount(inverse)
    return uniq[share_on >= 0.95]


def _setback(clock: _Clock, nights: npt.NDArray[np.int64], resid: FloatArray,
             steady: BoolArray, opts: CalibrationOptions, source: str) -> Setback | None:
    """The longest run of bins (2 h or more) where the signal sat well under the curve.

    Per night and bin the median residual, then per bin the median over nights: one odd
    night cannot make a setback, and a setback on most run-through nights does.
    """
    sel = steady & np.isin(clock.night, nights)
    key = clock.night[sel] * BINS + clock.bin[sel]
    if not len(key):
        return None
    uniq, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(resid[sel][order], np.cumsum(np.bincount(inverse))[:-1])
    per_night = np.array([float(np.median(g)) for g in groups])
    bins = uniq % BINS
    med = np.full(BINS, np.nan)
    count = np.bincount(bins, minlength=BINS)
    need = max(3, len(nights) // 10)
    for b in range(BINS):
        if count[b] >= need:
            med[b] = float(np.median(per_night[bins == b]))
    med = _fill(med, -1.0)
    if not np.isfinite(med).any():
        return None
    runs = _runs(med <= -opts.setback_min_k, SETBACK_MIN_BINS)
    if not runs:
        return None
    first, length = max(runs, key=lambda r: r[1])
    in_run = np.isin(bins, [(first + i) % BINS for i in range(length)])
    cut = -float(np.median(per_night[in_run]))
    shown = len(np.unique(uniq[in_run] // BINS))
    window = Window(_bin_time(first), _bin_time(first + length), shown / len(nights))
    return Setback(window=window, k=round(cut * 2) / 2, nights=shown, source=source)


def _in_windows(clock: _Clock, windows: tuple[Window, ...]) -> BoolArray:
    out = np.zeros(len(clock.bin), dtype=bool)
    for w in windows:
        a = (w.start.hour * 3600 + w.start.minute * 60) // BIN_S
        b = (w.end.hour * 3600 + w.end.minute * 60) // BIN_S
        out |= (clock.bin >= a) & (clock.bin < b) if a <= b else (
            (clock.bin >= a) | (clock.bin < b))
    return out


# ---------------------------------------------------------------------------- restarts

def _restarts(t: FloatArray, on: BoolArray, known: BoolArray, spacing: float) -> FloatArray:
    """Times heating resumed after at least 30 minutes off (first reading back on).

    With dense data the state is the majority of each reading and its two neighbours, so one
    noisy reading neither ends a night off nor makes a restart; an hourly reading is an hour
    of behaviour and stands alone.
    """
    idx = np.flatnonzero(known)
    state = on[idx].astype(np.int64)
    if len(state) >= 3 and spacing <= 900:
        state[1:-1] = (state[:-2] + state[1:-1] + state[2:]) >= 2
    out = []
    off_since: float | None = None
    for i, s in zip(idx, state, strict=True):
        if not s:
            off_since = t[i] if off_since is None else off_since
        else:
            if off_since is not None and t[i] - off_since >= 1800:
                out.append(t[i])
            off_since = None
    return np.array(out, dtype=np.float64)


def _since_restart(t: FloatArray, restarts: FloatArray) -> FloatArray:
    if not len(restarts):
        return np.full(len(t), np.inf)
    pos = np.searchsorted(restarts, t, side="right") - 1
    since = t - restarts[np.maximum(pos, 0)]
    return np.where(pos >= 0, since, np.inf)


def _warmup(t: FloatArray, restarts: FloatArray, resid: FloatArray, on: BoolArray,
            spacing: float) -> float | None:
    """95th percentile over restarts of the time to come within tolerance of the curve,
    rounded up to 15 minutes (restarts that never got there within 4 h are skipped)."""
    durations = []
    for r in restarts:
        m = (t >= r) & (t < r + 4 * 3600) & on & np.isfinite(resid)
        ok = np.flatnonzero(m & (resid >= -WARMUP_TOLERANCE_K))
        if len(ok):
            # The restart happened between the last off reading and ``r``: count half a gap.
            durations.append(float(t[ok[0]] - r) + spacing / 2)
    if len(durations) < 5:
        return None
    p95 = float(np.percentile(durations, 95))
    return float(min(max(900.0, math.ceil(p95 / 900) * 900), 4 * 3600.0))


# ---------------------------------------------------------------------------- the whole

def report_interval(t: FloatArray) -> float | None:
    """Median spacing of the newest two weeks of readings (the logger may have changed)."""
    if len(t) < 3:
        return None
    newest = t[t >= t[-1] - 14 * 86400]
    if len(newest) < 10:
        newest = t[-200:]
    diffs = np.diff(newest)
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if len(diffs) else None


def calibrate_station(h: StationHistory, start: float, end: float,
                      opts: CalibrationOptions) -> Calibration:
    """Learn one station; :class:`TooLittleData` when the curve cannot be fitted."""
    if len(h) < 10:
        raise TooLittleData(f"{len(h)} readings in the period")
    tz = ZoneInfo(opts.schedule.timezone)
    clock = _clock(h.t, tz)
    on, known = heat_state(h)
    if not known.any():
        raise TooLittleData("no heat_power or return_temp to tell heating on from off")
    in_season = np.array([heating_on(float(x), opts.schedule) for x in h.t], dtype=bool)
    usable = on & in_season & np.isfinite(h.outdoor) & np.isfinite(h.supply)
    restarts = _restarts(h.t, on, known, report_interval(h.t) or 0.0)
    since = _since_restart(h.t, restarts)
    steady = usable & (since >= opts.default_warmup_s)
    hours = len(np.unique(h.t[steady] // 3600))
    if hours < opts.min_curve_hours:
        raise TooLittleData(
            f"{hours} heating-hours with outdoor data, need {opts.min_curve_hours}")
    nights = _heating_nights(clock, on, known, h.t, in_season)
    notes: list[str] = []
    off_windows: tuple[Window, ...] = ()
    if len(nights) >= opts.min_nights:
        off_share, _ = _night_bin_share(clock, nights, ~on, known, opts.min_nights)
        off_windows = _off_windows(off_share, opts)
    else:
        notes.append(f"off and setback windows not learned: {len(nights)} heating nights,"
                     f" need {opts.min_nights}")
    # Readings "on" inside the usual off window are mostly the minutes around a switch-off
    # or a restart (supply falling or climbing); the curve is learned without them.
    base = steady & ~_in_windows(clock, off_windows)
    if len(np.unique(h.t[base] // 3600)) < opts.min_curve_hours:
        base = steady

    # Curve, then setback against it, then the curve again without the setback hours. The
    # setback shows on nights the station ran through: in its setpoint where it reports one
    # (cleaner: no switch-off transients), else in its supply.
    curve = fit_curve(h.outdoor[base], h.supply[base], h.t[base], opts.max_points)
    setback: Setback | None = None
    sb_nights = _run_through(clock, nights, on, known)
    if np.isfinite(h.setpoint[steady]).mean() >= 0.5:
        source, signal = "supply_setpoint", h.setpoint
        sb_use = steady & np.isfinite(h.setpoint)
    else:
        source, signal, sb_use = "supply", h.supply, steady
    if len(nights) >= opts.min_nights and len(sb_nights) >= 3:
        for _ in range(2):
            resid = signal - curve.at(h.outdoor)
            setback = _setback(clock, sb_nights, resid, sb_use, opts, source)
            if setback is None:
                break
            fit_mask = base & ~_in_windows(clock, (setback.window,))
            if len(np.unique(h.t[fit_mask] // 3600)) < opts.min_curve_hours:
                notes.append("setback hours left too little data to refit the curve")
                break
            curve = fit_curve(h.outdoor[fit_mask], h.supply[fit_mask], h.t[fit_mask],
                              opts.max_points)
    elif len(nights) >= opts.min_nights:
        notes.append(f"setback not learned: {len(sb_nights)} nights ran through, need 3")
    cal = Calibration(station=h.station, start=start, end=end, curve=curve,
                      heating_nights=len(nights), off_windows=off_windows, setback=setback,
                      notes=notes)

    cal.interval_s = report_interval(h.t)
    cal.delivering_kw = power_threshold(h)
    target = curve.at(h.outdoor)
    if setback is not None:  # warm-up ends at the target of the moment, setback included
        target = target - setback.k * _in_windows(clock, (setback.window,))
    resid = h.supply - target
    cal.restarts = len(restarts)
    cal.warmup_s = _warmup(h.t, restarts, resid, on & in_season, cal.interval_s or 0.0)
    if cal.warmup_s is None and len(restarts):
        cal.notes.append(f"warm-up not learned: {len(restarts)} restarts reached the curve")
    normal = base if setback is None else base & ~_in_windows(clock, (setback.window,))
    _normal_ranges(cal, h, normal)
    return cal


def _normal_ranges(cal: Calibration, h: StationHistory, steady: BoolArray) -> None:
    dt_k = (h.supply - h.ret)[steady]
    dt_k = dt_k[np.isfinite(dt_k)]
    if len(dt_k) >= 50:
        p5, p50, p95 = (float(v) for v in np.percentile(dt_k, [5, 50, 95]))
        cal.dt_k = (p5, p50, p95)
    ret = h.ret[steady]
    ret = ret[np.isfinite(ret)]
    if len(ret) >= 50:
        lo, hi = (float(v) for v in np.percentile(ret, [1, 99]))
        cal.return_c = (lo, hi)
    flowing = steady & np.isfinite(h.makeup) & np.isfinite(h.flow) & (h.flow > 0.1)
    if flowing.sum() >= 50:
        ratio = h.makeup[flowing] / h.flow[flowing]
        cal.makeup_ratio = (float(np.median(ratio)), float(np.percentile(ratio, 99)),
                            int(flowing.sum()))
    sp = steady & np.isfinite(h.setpoint)
    if sp.sum() >= 50:
        diff = h.setpoint[sp] - cal.curve.at(h.outdoor[sp])
        cal.setpoint_diff = (float(np.mean(diff)), float(np.mean(np.abs(diff))), int(sp.sum()))
