"""Logging set-up for every command: one format, one place that decides the level.

Why a function and not ``logging.basicConfig`` in each service: ``heatwatch/cli.py`` configures
logging before it hands over to a subcommand, and a second ``basicConfig`` does nothing once
the root logger has a handler, so a service's ``log_level`` setting was silently ignored under
``heatwatch collect``. :func:`configure` adds the handler only when there is none and always
sets the level.

Which level: ``heatwatch --log-level X <command>`` when given on the command line (a one-off
debug session), else the service's ``log_level`` (file or ``HEATWATCH_LOG_LEVEL``), else INFO.
"""

from __future__ import annotations

import argparse
import logging

__all__ = ["FORMAT", "LEVELS", "configure", "level_for"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# One line per HTTP request at INFO would drown the services' own low-rate summaries (the
# collector writes a batch every half second): counters say it instead.
_CHATTY = ("httpx", "httpcore", "urllib3")


def configure(level: str) -> None:
    """Log to stderr in :data:`FORMAT` at ``level``; the HTTP libraries at WARNING or above."""
    logging.basicConfig(format=FORMAT)  # a no-op when a handler exists (the CLI made one)
    root = logging.getLogger()
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def level_for(args: argparse.Namespace, configured: str) -> str:
    """The command line's ``--log-level`` if it was given, else the service's own setting."""
    given = getattr(args, "log_level", None)
    return given if isinstance(given, str) else configured
