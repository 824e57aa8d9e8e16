"""``heatwatch rules backtest``: settings and arguments in, table (and plot) out.

Kept apart from :mod:`alerts.rules_cli` so that ``rules list`` / ``check`` never import
tqdm, matplotlib or an HTTP client they do not need. tqdm and matplotlib come with the
``tools`` extra (:func:`heatwatch.extras.require`).
"""

from __future__ import annotations

import argparse
import sys

from alerts.backtest import backtest, format_table
from alerts.config import load_rules
from alerts.history import HistorySource, HistoryUnavailable
from alerts.settings import load_alerts_settings
from heatwatch.extras import require
from heatwatch.registry import load_registry

__all__ = ["run_backtest"]


def run_backtest(args: argparse.Namespace) -> int:
    """Exit codes: 0 done, 1 InfluxDB could not answer, 2 bad arguments or files.

    Raises :class:`heatwatch.settings.ConfigError` for a bad settings/rules/registry file
    (``rules_cli.main`` reports it).
    """
    if args.end <= args.start:
        print("heatwatch rules backtest: --to must be after --from", file=sys.stderr)
        return 2
    # Before any work: a missing extra is found now, not after an hour of replay.
    tqdm = require("tqdm", "tools", "heatwatch rules backtest (progress bar)").tqdm
    if args.plot is not None:
        require("matplotlib", "tools", "heatwatch rules backtest --plot")
    settings = load_alerts_settings(args.config)
    rules = load_rules(args.rules or settings.rules)
    registry = load_registry(args.registry or settings.registry)
    start, end = args.start.timestamp(), args.end.timestamp()
    step = args.step if args.step is not None else settings.evaluate_interval_s
    if step <= 0 or args.chunk <= 0:
        print("heatwatch rules backtest: --step and --chunk must be positive", file=sys.stderr)
        return 2
    source = HistorySource(settings.influx.overridden(args.influx_url, args.database))
    bar = tqdm(total=round(end - start), unit="s", unit_scale=True, desc="history",
               file=sys.stderr, disable=args.no_progress, leave=True)

    def progress(done: float, total: float) -> None:
        bar.update(round(done) - bar.n)

    try:
        result = backtest(rules, source, start, end, zone=args.zone, station=args.station,
                          registry=registry, rule=args.rule, step_s=step,
                          chunk_s=args.chunk, progress=progress)
        bar.close()
        print(format_table(result))
        if args.plot is not None:
            from alerts.backtest.plot import plot_backtest

            stations = [args.station] if args.station else result.stations()[
                : max(0, args.plot_stations)]
            path = plot_backtest(result, source, args.plot, rules=rules, registry=registry,
                                 stations=stations, zone=args.zone)
            print(f"plot written to {path}", file=sys.stderr)
    except HistoryUnavailable as exc:
        bar.close()
        print(f"heatwatch rules backtest: InfluxDB: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    return 0
