"""Forecast benchmark (issue 17): does the flats' thermal model see the cold coming?

On a simulated winter (:mod:`forecast_season`: the simulator's stations and flats in-process,
cold waves, 40 % of the stations switched off 22:00-05:00, forecasts with lead-growing error)
the models are fitted on the first ``--fit-days`` and then, every 15 minutes of the following
``--days``, every flat is predicted 12 h ahead from its latest readings, the stations' planned
supply (:func:`forecast.predict.plan_stations` with the rules an operator would write) and the
forecast known then. Scored, in the same run:

* MAE of indoor temperature at 1, 3, 6, 12 h lead against the naive baseline (the temperature
  stays as it is): better at every lead;
* cold episodes (readings' hourly mean under 18 °C for 2 h or more): at least 80 % predicted
  2 h or more before they start (a flat flagged by the rule's criterion: predicted under the
  standard within the horizon with probability >= 0.5); the lead time distribution;
* ``cold_predicted`` alerts (a run of flagged cycles of one flat) followed by no cold episode
  of that flat within the horizon + 2 h: at most 10 % (alerts opened during an episode are
  the cold already there, counted apart);
* cost at city scale (400,000 flats, 20,000 stations, synthetic series): fit over 14 days and
  one prediction cycle on one core within the 15-minute cycle, peak memory; and the cost per
  flat of scipy's ``least_squares`` on the same windows, the baseline the batched fit replaces.

Run: ``.venv/bin/python bench/forecast_bench.py [--quick] [--write-doc]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

# Not bench/forecast.py: a script of that name in bench/ (first on every bench script's path)
# would shadow the forecast package for all of them (alerts imports it).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_season import (
    RUN_THROUGH_BELOW_C,
    ForecastError,
    Season,
    simulate,
    station_rules,
)

from alerts.config import RuleSet
from alerts.rules.regime import curve_reference
from forecast.cycle import lines
from forecast.predict import (
    StationNow,
    learn_run_through,
    plan_stations,
    predict,
)
from forecast.summary import RiskSettings, summarise
from forecast.thermal import (
    Drive,
    FitOptions,
    Flat,
    Models,
    advance,
    fit,
    report,
)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

STANDARD_C = 18.0
LEADS_H = (1, 3, 6, 12)
HORIZON_H = 12
MIN_EPISODE_H = 2.0
EARLY_H = 2.0
P_ALERT = 0.8  # cold_predicted min_probability
ALERT_MIN_DURATION_H = 3.0  # cold_predicted min_duration_s
KEEP_CYCLES = 12  # cold_predicted keep_firing_for_s (3 h) in 15-minute cycles


def hourly(season: Season, start_col: int, end_col: int) -> tuple[Drive, F64]:
    """The season's columns as the hourly grid the fit reads from InfluxDB (means)."""
    per = int(3600 / season.grid_s)
    cols = (end_col - start_col) // per * per

    def mean(x: F64) -> F64:
        block = x[:, start_col:start_col + cols].reshape(x.shape[0], -1, per)
        with np.errstate(all="ignore"):
            out: F64 = np.nanmean(block, 2)
        return out

    drive = Drive(t0=season.t0 + start_col * season.grid_s, step_s=3600.0,
                  heat=mean(season.heat), on=mean(season.heat_on), outdoor=mean(season.outdoor))
    return drive, mean(season.indoor)


def rolling_hour(x: F64, per: int) -> F64:
    """Mean of the last ``per`` columns (NaN-aware) ending at each column."""
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    cs = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(v, 1)], 1)
    cn = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(ok, 1)], 1)
    s = cs[:, per:] - cs[:, :-per]
    n = cn[:, per:] - cn[:, :-per]
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        out[:, per - 1:] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return out


def episodes(smooth: F64, per_h: int, first_col: int) -> list[tuple[int, int]]:
    """(flat, start column) of every run of >= 2 h under the standard starting at or after
    ``first_col``."""
    need = int(MIN_EPISODE_H * per_h)
    out: list[tuple[int, int]] = []
    cold = smooth < STANDARD_C
    for f in range(cold.shape[0]):
        row = cold[f]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b - a >= need and a >= first_col:
                out.append((f, int(a)))
    return out


def supply_offsets(season: Season, ref_all: F64, col: int, per_day: int) -> F64:
    """Each station's measured supply minus its curve reference, median over the last day
    of delivering columns (what the live predictor measures)."""
    lo = max(0, col - per_day)
    out = np.zeros(ref_all.shape[0])
    for i in range(out.size):
        diff = season.supply[i, lo:col] - ref_all[i, lo:col]
        ok = (season.heat_on[i, lo:col] > 0.99) & np.isfinite(diff)
        out[i] = float(np.median(diff[ok])) if ok.sum() >= 8 else 0.0
    return out


def references(season: Season, rules: list[RuleSet]) -> F64:
    """Curve reference at every station's column, from its measured outdoor temperature
    (alerts.rules.regime.curve_reference, as supply_below_curve judges)."""
    n, cols = season.supply.shape
    out = np.full((n, cols), np.nan)
    mids = season.t0 + (np.arange(cols) + 0.5) * season.grid_s
    for i in range(n):
        o = season.outdoor[i]
        for k in range(cols):
            if np.isfinite(o[k]):
                out[i, k] = curve_reference(float(mids[k]), float(o[k]), rules[i])[0]
    return out


def run_season(stations: int, fit_days: int, days: int, seed: int,
               show_false: bool = False) -> dict[str, object]:
    t = time.monotonic()
    season = simulate(stations, fit_days + days + 1, seed)
    sim_s = time.monotonic() - t
    per_h = int(3600 / season.grid_s)
    rules = station_rules(season)
    ref_all = references(season, rules)
    fit_end = fit_days * 24 * per_h
    flats = [Flat(season.station_zone[s], season.station_ids[s], season.flat_meter[j])
             for j, s in enumerate(season.flat_station)]
    station_row = season.flat_station
    indoor = season.indoor
    smooth = rolling_hour(indoor, per_h)
    forecast = ForecastError(season, seed)
    day = 24 * per_h

    def refit(col: int) -> tuple[Models, npt.NDArray[np.int64], list[float | None], float]:
        """As the service does every day: fit on the last ``fit_days``, and learn what each
        station does on its coldest nights from the same history."""
        t = time.monotonic()
        drive, indoor_h = hourly(season, col - fit_end, col)
        models = fit(flats, indoor_h, season.station_ids, drive, FitOptions())
        index = {f.key: j for j, f in enumerate(flats)}
        rows = np.array([index[f"{st}/{m}"] for st, m in zip(models.station, models.meter,
                                                            strict=True)], dtype=np.int64)
        grid_t = season.t0 + (np.arange(col - fit_end, col) + 0.5) * season.grid_s
        through = [learn_run_through(grid_t, season.heat_on[i, col - fit_end:col],
                                     season.outdoor[i, col - fit_end:col], rules[i])
                   for i in range(len(rules))]
        # learned where seen, else what the operator declared (model.run_through_below_c)
        through = [RUN_THROUGH_BELOW_C if x is None and season.regime[i] == "off" else x
                   for i, x in enumerate(through)]
        return models, rows, through, time.monotonic() - t

    models, fitted, through, fit_s = refit(fit_end)
    rep = report(models)
    refused = len(models.refused)
    kept = np.arange(len(flats))
    steps = HORIZON_H * per_h
    last_col = season.indoor.shape[1] - steps - 1
    cycles = list(range(fit_end, last_col))
    err_model = {h: [] for h in LEADS_H}  # type: dict[int, list[F64]]
    err_naive = {h: [] for h in LEADS_H}  # type: dict[int, list[F64]]
    flagged = np.zeros((kept.size, len(cycles)), dtype=bool)
    minpred = np.zeros((kept.size, len(cycles)))
    t = time.monotonic()
    refits = 0
    for ci, col in enumerate(cycles):
        if col > fit_end and (col - fit_end) % day == 0:
            models, fitted, through, _ = refit(col)
            refits += 1
        now = season.t0 + col * season.grid_s
        start = np.nanmean(indoor[:, col - 2:col], 1) if col >= 2 else indoor[:, col - 1]
        offsets = supply_offsets(season, ref_all, col, 24 * per_h)
        now_list = [StationNow(season.station_ids[i], season.station_zone[i], rules[i],
                               float(offsets[i]), None, through[i])
                    for i in range(len(rules))]
        plan = plan_stations(now_list, now, lambda _z, tt, now=now: forecast.at(now, tt),
                             HORIZON_H * 3600.0, season.grid_s)
        start_f = start[fitted]
        ok = np.isfinite(start_f)
        pred = predict(models, station_row[fitted], np.where(ok, start_f, 20.0), plan)
        for h in LEADS_H:
            k = h * per_h - 1
            actual = indoor[fitted, col + k]
            m = ok & np.isfinite(actual)
            err_model[h].append(np.abs(pred.temps[m, k] - actual[m]))
            err_naive[h].append(np.abs(start_f[m] - actual[m]))
        first = pred.first_below(ALERT_MIN_DURATION_H * 3600.0)
        flagged[fitted, ci] = ok & np.isfinite(first) & (pred.p_below() >= P_ALERT)
        minpred[fitted, ci] = pred.temps.min(1)
    cycle_s = (time.monotonic() - t) / max(len(cycles), 1)
    mae = {h: (float(np.mean(np.concatenate(err_model[h]))),
               float(np.mean(np.concatenate(err_naive[h])))) for h in LEADS_H}
    # cold episodes and alerts, per flat
    eps = episodes(smooth, per_h, fit_end + steps)
    by_flat: dict[int, list[int]] = {}
    for f, a in episodes(smooth, per_h, 0):  # any episode can follow an alert
        by_flat.setdefault(f, []).append(a)
    cold_now = smooth < STANDARD_C
    leads: list[float] = []
    early = 0
    for f, a in eps:
        # cycles issued within the horizon before the start that flagged this flat
        lo = max(0, a - steps - fit_end)
        hi = min(len(cycles), a - fit_end + 1)
        hits = np.flatnonzero(flagged[f, lo:hi])
        if hits.size:
            lead_h = (a - (lo + hits[0] + fit_end)) / per_h
            leads.append(lead_h)
            early += lead_h >= EARLY_H
    alerts = 0
    false = 0
    during = 0
    for f in range(kept.size):
        opens = alert_opens(flagged[f], KEEP_CYCLES)
        for o in opens:
            col = o + fit_end
            if cold_now[f, col]:
                during += 1
                continue
            alerts += 1
            starts = by_flat.get(f, [])
            window = col + steps + int(EARLY_H * per_h)
            # an episode starting within horizon + 2 h, or one already under way
            if not any(col - 8 * per_h <= s <= window and _covers(cold_now[f], s, col, window)
                       for s in starts):
                false += 1
                if show_false:
                    seg = smooth[f, col:window]
                    print("false", f, season.regime[station_row[f]],
                          dt.datetime.fromtimestamp(season.t0 + col * season.grid_s,
                                                    dt.timezone(dt.timedelta(hours=8))),
                          f"actual min {np.nanmin(seg):.2f}",
                          f"under {np.nansum(seg < STANDARD_C) / per_h:.2f} h",
                          f"pmin {minpred[f, o]:.2f}", file=sys.stderr)
    return {
        "stations": stations, "flats": len(flats), "fitted": len(flats) - refused,
        "refused": refused, "refits": refits, "fit_days": fit_days, "days": days,
        "sim_s": sim_s, "fit_s": fit_s, "cycle_s": cycle_s, "cycles": len(cycles),
        "rmse12_median": rep.rmse_horizon_median, "rmse12_p90": rep.rmse_horizon_p90,
        "tau_median": rep.tau_off_median_h, "mae": mae, "episodes": len(eps),
        "early": early, "leads": leads, "alerts": alerts, "false": false, "during": during,
        "refusals": sorted(set(models.refused.values())),
    }


def alert_opens(flags: B, keep: int) -> list[int]:
    """Cycles at which a cold_predicted alert opens: at a flag, unless one is open; an open
    alert resolves after ``keep`` cycles in a row without a flag (keep_firing_for)."""
    opens: list[int] = []
    quiet = keep  # cycles since the last flag
    for i, flag in enumerate(flags):
        if flag:
            if quiet >= keep:
                opens.append(i)
            quiet = 0
        else:
            quiet += 1
    return opens


def _covers(cold: B, start: int, lo: int, hi: int) -> bool:
    """The episode starting at ``start`` overlaps [lo, hi]."""
    if start > hi:
        return False
    if start >= lo:
        return True
    end = start
    while end < cold.size and cold[end]:
        end += 1
    return end >= lo


def city_cost(flats: int, stations: int, days: int, seed: int) -> dict[str, float]:
    """Fit and one prediction cycle for a city of synthetic buildings (float32 history)."""
    rng = np.random.default_rng(seed)
    steps = 24 * days
    hour = np.arange(steps) % 24
    outdoor = (-8.0 + 5.0 * np.sin(2 * np.pi * (hour - 9) / 24)[None, :]
               + rng.normal(0.0, 2.0, (stations, 1)))
    on = np.ones((stations, steps))
    off = rng.random(stations) < 0.4
    on[off[:, None] & ((hour >= 22) | (hour < 5))[None, :]] = 0.0
    heat = on * np.clip(45.0 - 0.8 * outdoor, 35.0, 60.0)
    station_of = rng.integers(0, stations, flats)
    drive = Drive(0.0, 3600.0, heat, on, outdoor)
    # buildings of 25-45 h; simulated in chunks straight into float32 history
    indoor = np.empty((flats, steps), dtype=np.float32)
    chunk = 50_000
    for lo in range(0, flats, chunk):
        idx = np.arange(lo, min(flats, lo + chunk))
        b = 1.0 / rng.uniform(25.0, 45.0, idx.size)
        a = b * rng.uniform(0.8, 1.6, idx.size)
        st = station_of[idx]
        c = b * (21.0 - outdoor.mean(1)[st]) - a * (heat.mean(1)[st] - 21.0 * on.mean(1)[st])
        temp = np.full(idx.size, 21.0)
        for k in range(steps):
            indoor[idx, k] = temp + rng.normal(0.0, 0.15, idx.size)
            temp = advance(temp, heat[st, k], on[st, k], outdoor[st, k], a, b, c, 1.0)
    ids = [f"s{i}" for i in range(stations)]
    fl = [Flat("z", ids[s], str(j)) for j, s in enumerate(station_of)]
    t = time.process_time()
    models = fit(fl, indoor, ids, drive)  # type: ignore[arg-type]
    fit_s = time.process_time() - t
    # a realistic cycle: 40 zones, the stations that switch off at night planned off
    # 22:00-05:00 (a -10 °C night: many flats predicted cold, the advice searched for each)
    heating = {"timezone": "UTC", "season_start": "10-15", "season_end": "04-15"}
    plain = RuleSet.model_validate({"heating": heating})
    night_off = RuleSet.model_validate({"heating": {
        **heating, "off_windows": [{"start": "22:00", "end": "05:00"}]}})
    zone_of = [f"z{i % 40}" for i in range(stations)]
    now = dt.datetime(2026, 12, 7, 20, tzinfo=dt.UTC).timestamp()
    t = time.process_time()
    plan = plan_stations([StationNow(s, zone_of[i], night_off if off[i] else plain, 0.0)
                          for i, s in enumerate(ids)], now, lambda z, tt: -10.0)
    row = {s: i for i, s in enumerate(ids)}
    station_row = np.array([row[s] for s in models.station], dtype=np.int64)
    models.zone = [zone_of[row[s]] for s in models.station]
    pred = predict(models, station_row, indoor[:len(models), -1].astype(np.float64), plan)
    predict_only_s = time.process_time() - t
    flats_risk, zones_risk = summarise(pred, lambda z: RiskSettings(timezone="UTC"))
    out_lines = lines(now, pred.ends, pred.temps, models.zone, plan.standard[station_row],
                      zones_risk, flats_risk)
    cold = sum(1 for f in flats_risk if f.below_at is not None)
    advised = sum(1 for z in zones_risk for _ in z.actions)
    predict_s = time.process_time() - t
    # baseline: scipy least_squares on one flat's windows, as a per-flat loop would run it
    from scipy.optimize import least_squares
    t = time.process_time()
    n_ref = 5
    for j in range(n_ref):
        st = int(station_of[j])
        y = indoor[j].astype(np.float64)
        starts = list(range(0, steps - 12, 5))

        def res(th: F64, st: int = st, y: F64 = y, starts: list[int] = starts) -> F64:
            pa, pb, pc = np.exp(th[0]), np.exp(th[1]), th[2]
            temp = y[starts]
            out = []
            for k in range(12):
                idx = np.array(starts) + k
                temp = advance(temp, heat[st, idx], on[st, idx], outdoor[st, idx], pa, pb, pc,
                               1.0)
                out.append(y[idx + 1] - temp)
            return np.concatenate(out)

        least_squares(res, [np.log(1 / 30), np.log(1 / 30), 0.0])
    scipy_per_flat = (time.process_time() - t) / n_ref
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"flats": flats, "stations": stations, "fit_s": fit_s, "predict_s": predict_s,
            "predict_only_s": predict_only_s, "cold_flats": cold, "advised": advised,
            "lines": len(out_lines),
            "scipy_city_s": scipy_per_flat * flats, "rss_mb": rss,
            "history_mb": indoor.nbytes / 1e6}


def render(s: dict[str, object], c: dict[str, float] | None) -> str:
    mae = s["mae"]
    assert isinstance(mae, dict)
    better = all(m < n for m, n in mae.values())
    episodes_n = int(s["episodes"])  # type: ignore[call-overload]
    early = int(s["early"])  # type: ignore[call-overload]
    alerts = int(s["alerts"])  # type: ignore[call-overload]
    false = int(s["false"])  # type: ignore[call-overload]
    leads = np.asarray(s["leads"], dtype=np.float64)
    recall = early / episodes_n if episodes_n else float("nan")
    false_share = false / alerts if alerts else 0.0
    lines = [
        f"Season: {s['stations']} stations, {s['flats']} flats ({s['fitted']} fitted, "
        f"{s['refused']} refused: {', '.join(s['refusals']) or '-'}), fit on "  # type: ignore[arg-type]
        f"{s['fit_days']} days (refitted daily on the last {s['fit_days']}, {s['refits']} "
        f"refits), scored on {s['days']} days = {s['cycles']} cycles of 15 min "
        f"(simulation {s['sim_s']:.0f} s, fit {s['fit_s']:.1f} s, "
        f"{float(s['cycle_s']) * 1000:.0f} ms per cycle); "  # type: ignore[arg-type]
        f"fit error at 12 h: median {s['rmse12_median']:.2f} K, p90 {s['rmse12_p90']:.2f} K; "
        f"median time constant (heating off) {s['tau_median']:.0f} h.",
        "",
        "| lead | MAE model (K) | MAE naive (K) | ratio |",
        "|---:|---:|---:|---:|",
    ]
    for h, (m, n) in mae.items():
        lines.append(f"| {h} h | {m:.3f} | {n:.3f} | {m / n:.2f} |")
    q = (np.percentile(leads, [10, 25, 50, 75, 90]) if leads.size else [float("nan")] * 5)
    lines += [
        "",
        "Lead time of predicted cold episodes (h): p10 {:.1f}, p25 {:.1f}, median {:.1f}, "
        "p75 {:.1f}, p90 {:.1f}; histogram (2 h bins from 0): {}".format(
            *q, np.histogram(leads, bins=np.arange(0, 14.1, 2))[0].tolist()),
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| MAE better than naive at 1, 3, 6, 12 h | {'all' if better else 'not all'} | "
        f"{'yes' if better else 'NO'} |",
        f"| cold episodes predicted >= 2 h ahead >= 80 % | {early}/{episodes_n} = "
        f"{recall:.0%} | {'yes' if recall >= 0.8 else 'NO'} |",
        f"| alerts followed by no cold within 14 h <= 10 % | {false}/{alerts} = "
        f"{false_share:.1%} | {'yes' if false_share <= 0.10 else 'NO'} |",
    ]
    if c is not None:
        total = c["fit_s"] + c["predict_s"]
        lines.append(
            f"| city ({c['flats']:,.0f} flats, {c['stations']:,.0f} stations) fit + predict "
            f"within 900 s on one core | {c['fit_s']:.0f} s + {c['predict_s']:.1f} s | "
            f"{'yes' if total <= 900 else 'NO'} |")
        lines += [
            "",
            f"City cost: fit {c['fit_s']:.0f} s CPU over 14 days of hourly history "
            f"({c['history_mb']:.0f} MB as float32); one 12 h forecast cycle "
            f"{c['predict_s']:.1f} s CPU, of which the prediction itself "
            f"{c['predict_only_s']:.1f} s and the rest the risks, the advice for "
            f"{c['advised']:,.0f} stations with {c['cold_flats']:,.0f} flats predicted cold (a "
            f"-10 °C night, 40 % of the stations planned off) and {c['lines']:,.0f} "
            f"InfluxDB lines; peak RSS {c['rss_mb']:.0f} MB (history included). "
            f"Baseline: scipy least_squares per flat on the same windows would take "
            f"{c['scipy_city_s'] / 3600:.1f} h for the city "
            f"({c['scipy_city_s'] / max(c['fit_s'], 1e-9):.0f}x the batched fit).",
        ]
    lines.append(f"\n{s['during']} flags opened while the flat was already cold (the cold is "
                 "there: zone_cold / flat_cold judge it) are not counted as alerts.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small season, small city")
    parser.add_argument("--stations", type=int, default=80)
    parser.add_argument("--fit-days", type=int, default=14)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--city-flats", type=int, default=400_000)
    parser.add_argument("--city-stations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--show-false", action="store_true",
                        help="print each alert followed by no cold episode (stderr)")
    args = parser.parse_args(argv)
    if args.quick:
        args.stations, args.days = 24, 6
        args.city_flats, args.city_stations = 20_000, 1_000
    # the city first: its peak memory is then its own, not the season's
    city = city_cost(args.city_flats, args.city_stations, 14, args.seed)
    season = run_season(args.stations, args.fit_days, args.days, args.seed,
                        args.show_false)
    text = render(season, city)
    print(text)
    if args.write_doc:
        from alertbench import write_section
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_section("forecast", f"## Forecast: cold flats predicted hours ahead (#17)\n\n"
                                  f"`bench/forecast_bench.py`, {stamp} (load average "
                                  f"{os.getloadavg()[0]:.1f}; CPU times are process times)"
                                  f"\n\n{text}")
    # --quick is a smoke run (6 days, few cold nights): too small to judge the targets by
    return 0 if args.quick or "| NO |" not in text else 1


if __name__ == "__main__":
    raise SystemExit(main())
