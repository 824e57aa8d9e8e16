"""``heatwatch forecast check FILE``: validate a forecast file as the alerts service would."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="forecast YAML (reference: forecast/forecast.sample.yaml)")


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 valid, 2 invalid (the message names each wrong key)."""
    from forecast.settings import load_forecast_settings

    try:
        settings = load_forecast_settings(args.file)
    except ConfigError as exc:
        print(f"heatwatch forecast check: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: valid")
    print(f"  mqtt input: {'on' if settings.mqtt.enabled else 'off'}")
    for om in settings.open_meteo:
        print(f"  open-meteo: zone {om.zone} every {om.interval_s:g} s, "
              f"{om.forecast_hours} h ahead, {om.url}")
    print(f"  store in InfluxDB: {'on' if settings.store.enabled else 'off'}")
    return 0
