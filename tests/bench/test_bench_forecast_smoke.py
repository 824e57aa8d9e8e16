"""bench/forecast_bench.py runs end to end at its tiny size (``--quick``), so it keeps working
as the forecast code under it changes; its figures are recorded by full runs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_forecast_bench_quick(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    mod = importlib.import_module("forecast_bench")
    assert mod.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for h in (1, 3, 6, 12):
        assert f"| {h} h |" in out  # the MAE table, model against persistence
    assert "cold episodes predicted >= 2 h ahead" in out and "City cost" in out
