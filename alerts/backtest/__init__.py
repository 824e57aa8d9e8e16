"""Backtests: replay stored history through the real engine and report (and plot) the alerts
the rules would have raised, for tuning a threshold before it pages anyone.

``replay.py`` is :func:`backtest` itself (also behind ``POST /api/v1/rules/backtest`` and the
calibration), ``cli.py`` is ``heatwatch rules backtest``, ``plot.py`` its ``--plot`` figures
(matplotlib, the ``tools`` extra, imported only there). The replay's public names are
re-exported here, so ``from alerts.backtest import backtest`` is the way in.
"""

from alerts.backtest.replay import (
    BacktestAlert,
    BacktestResult,
    Mode,
    Progress,
    backtest,
    format_table,
)

__all__ = ["BacktestAlert", "BacktestResult", "Mode", "Progress", "backtest", "format_table"]
