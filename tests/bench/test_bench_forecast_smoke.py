"""bench/forecast_bench.py runs end to end at its tiny size (``--quick``), so it keeps working
as the forecast code under it changes; its figures are recorded by full runs."""

from __future__ import annotations

from collections.abc import Callable


def test_forecast_bench_quick(run_bench: Callable[..., str]) -> None:
    out = run_bench("forecast_bench")
    for h in (1, 3, 6, 12):
        assert f"| {h} h |" in out  # the MAE table, model against persistence
    assert "cold episodes predicted >= 2 h ahead" in out and "City cost" in out
