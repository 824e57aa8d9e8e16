"""``heatwatch collect`` / ``python -m collector``: load the config, run until a signal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from collector.config import load_collector_settings
from heatwatch.logs import configure, level_for
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=None, metavar="PATH",
        help="collector YAML config (reference: collector/collector.sample.yaml); "
        "HEATWATCH_* variables override it",
    )


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 clean stop, 1 the worker died, 2 bad configuration."""
    try:
        settings = load_collector_settings(args.config)
    except ConfigError as exc:
        print(f"heatwatch collect: {exc}", file=sys.stderr)
        return 2
    configure(level_for(args, settings.log_level))
    # Imported here so that a config error is reported without importing paho/influx clients.
    from collector.service import Collector
    from collector.spool import SpoolError
    from heatwatch.mqtt import MqttError

    try:
        return Collector(settings).run_forever()
    except (ConfigError, SpoolError, MqttError) as exc:
        # An invalid registry file, a busy metrics port, an unusable spool directory, TLS
        # files that cannot be read.
        print(f"heatwatch collect: {exc}", file=sys.stderr)
        return 2
