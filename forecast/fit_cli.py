"""``heatwatch forecast fit --from --to``: fit every flat's thermal model from stored history.

Reads hourly means from InfluxDB (:mod:`forecast.history`), fits (:mod:`forecast.thermal`),
writes the models file the alerts service predicts with, and reports each flat's fit (its
time constant and its error at 1 h and at the horizon) and every flat it refused, with the
reason. Exit codes: 0 at least one flat fitted, 1 none (or InfluxDB unreachable), 2 usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

__all__ = ["add_arguments", "main"]

DEFAULT_MODELS = Path("run/forecast-models.npz")


def _time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="alerts service YAML (its influx and rules; default: built-ins)")
    parser.add_argument("--from", dest="start", required=True, type=_time, metavar="TIME",
                        help="start of the history (RFC 3339; two weeks or more is best)")
    parser.add_argument("--to", dest="end", required=True, type=_time, metavar="TIME")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="models file (default: the forecast file's model.path, else "
                        f"{DEFAULT_MODELS})")
    parser.add_argument("--station", default=None, help="only this station's flats")
    parser.add_argument("--min-windows", type=int, default=12,
                        help="fewer complete 12 h windows than this: refused")
    parser.add_argument("-q", "--quiet", action="store_true", help="no line per flat")


def main(args: argparse.Namespace) -> int:
    from alerts.config import load_rules
    from alerts.history import HistorySource, HistoryUnavailable
    from alerts.settings import load_alerts_settings
    from forecast.history import learned_run_through, read_fit_input
    from forecast.settings import load_forecast_settings
    from forecast.thermal import FitOptions, by_zone, fit, report, save_models

    if args.end <= args.start:
        print("heatwatch forecast fit: --to must be after --from", file=sys.stderr)
        return 2
    settings = load_alerts_settings(args.config)
    rules = load_rules(settings.rules)
    output = args.output
    if output is None:
        output = (load_forecast_settings(settings.forecast).model.path
                  if settings.forecast is not None else DEFAULT_MODELS)
    source = HistorySource(settings.influx)
    try:
        data = read_fit_input(source, rules, args.start.timestamp(), args.end.timestamp(),
                              args.station)
    except HistoryUnavailable as exc:
        print(f"heatwatch forecast fit: InfluxDB: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    models = fit(data.flats, data.indoor, data.stations, data.drive,
                 FitOptions(min_windows=args.min_windows))
    models.run_through = learned_run_through(data, rules)
    for station, below in sorted(models.run_through.items()):
        print(f"{station}: ran through its planned off windows on nights under "
              f"{below:.1f} °C", file=sys.stderr)
    if not args.quiet:
        print(f"{'flat':32} {'tau_off_h':>9} {'tau_on_h':>8} {'err_1h_K':>8} {'err_12h_K':>9}")
        for i in range(len(models)):
            key = f"{models.station[i]}/{models.meter[i]}"
            print(f"{key:32} {1 / models.b[i]:9.1f} {1 / (models.a[i] + models.b[i]):8.1f} "
                  f"{models.err[i, 0]:8.2f} {models.err[i, -1]:9.2f}")
    for key, why in sorted(models.refused.items()):
        print(f"{key}: refused: {why}", file=sys.stderr)
    for zone, d in by_zone(models).items():
        print(f"zone {zone}: {d['flats']:.0f} flats, time constant (heating off) p10 "
              f"{d['tau_off_p10_h']:.0f} h, median {d['tau_off_median_h']:.0f} h, p90 "
              f"{d['tau_off_p90_h']:.0f} h; error at 12 h median {d['err_12h_median_k']:.2f} K",
              file=sys.stderr)
    rep = report(models)
    print(f"fitted {rep.fitted} flats, refused {len(rep.refused)}; error at 12 h: median "
          f"{rep.rmse_horizon_median:.2f} K, p90 {rep.rmse_horizon_p90:.2f} K; median time "
          f"constant (heating off) {rep.tau_off_median_h:.0f} h", file=sys.stderr)
    if not len(models):
        print("heatwatch forecast fit: no flat could be fitted", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    save_models(models, output)
    print(f"models written to {output}", file=sys.stderr)
    return 0
