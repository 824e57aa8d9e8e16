"""``heatwatch forecast fetch FILE``: poll the file's Open-Meteo zones once and print them.

For checking a provider URL, coordinates and the time zone handling before the alerts service
relies on them; nothing is stored.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="forecast YAML with open_meteo zones")
    parser.add_argument("--zone", default=None, help="only this zone")


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 every zone fetched, 1 some failed, 2 bad configuration."""
    from forecast.openmeteo import OpenMeteoPoller
    from forecast.settings import load_forecast_settings

    try:
        settings = load_forecast_settings(args.file)
    except ConfigError as exc:
        print(f"heatwatch forecast fetch: {exc}", file=sys.stderr)
        return 2
    zones = [z for z in settings.open_meteo if args.zone in (None, z.zone)]
    if not zones:
        print("heatwatch forecast fetch: no open_meteo zone to fetch", file=sys.stderr)
        return 2
    poller = OpenMeteoPoller(zones, lambda f: None)
    try:
        got = poller.poll_once()
    finally:
        poller.stop()
    for f in got:
        print(f"zone {f.zone}: {len(f.points)} hours from {_utc(f.start)} to {_utc(f.end)}, "
              f"issued {_utc(f.issued_at)}")
        for p in f.points:
            print(f"  {_utc(p.at)}  {p.outdoor_temp:6.1f} °C  (+{f.lead_h(p):.1f} h)")
    return 0 if len(got) == len(zones) else 1
