"""``heatwatch forecast ACTION``: the weather forecast input and the predictions built on it.

Each action lives in its own module with ``add_arguments``/``main`` (as the top-level
``heatwatch`` command does for services), imported only when it runs; add one by adding a line
to :data:`ACTIONS`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import cast

__all__ = ["ACTIONS", "add_arguments", "main"]

# action -> (module providing add_arguments/main, help text)
ACTIONS: dict[str, tuple[str, str]] = {
    "check": ("forecast.check_cli", "validate a forecast config file and show its sources"),
    "fit": ("forecast.fit_cli", "fit every flat's thermal model from stored history"),
    "fetch": ("forecast.fetch_cli", "poll the Open-Meteo zones of a forecast file once"),
    "accuracy": ("forecast.accuracy_cli", "stored forecasts against measured outdoor "
                 "temperature: MAE and bias by lead"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="forecast_command", required=True, metavar="ACTION")
    for name, (module_name, help_text) in ACTIONS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_forecast_module=module_name)
        importlib.import_module(module_name).add_arguments(cmd)


def main(args: argparse.Namespace) -> int:
    module = importlib.import_module(args._forecast_module)
    run = cast(Callable[[argparse.Namespace], int], module.main)
    return run(args)
