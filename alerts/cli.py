"""``heatwatch alerts``: load the settings and the rules, run the engine until a signal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heatwatch.logs import configure, level_for
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=None, metavar="PATH",
        help="alerts service YAML (reference: alerts/alerts.sample.yaml); HEATWATCH_* "
        "variables override it",
    )


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 clean stop, 2 bad configuration (settings, rules or registry)."""
    from alerts.settings import load_alerts_settings
    from heatwatch.mqtt import MqttError

    try:
        settings = load_alerts_settings(args.config)
        configure(level_for(args, settings.log_level))
        from alerts.service import AlertsService

        service = AlertsService(settings)
    except (ConfigError, MqttError) as exc:
        print(f"heatwatch alerts: {exc}", file=sys.stderr)
        return 2
    return service.run_forever()
