"""bench/households_bench.py end to end at its --quick size (no timing assertions: the figures
are recorded by full runs in docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable


def test_households_quick(run_bench: Callable[..., str]) -> None:
    out = run_bench("households_bench")  # every target met at the quick size
    assert "| flat-level recall | 100.0 |" in out
    assert "| verdict finding = ground truth | 100.0 |" in out
