"""bench/households_bench.py end to end at its --quick size (no timing assertions: the figures
are recorded by full runs in docs/benchmarks.md)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_households_quick(capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module("households_bench")
    assert module.main(["--quick"]) == 0  # every target met at the quick size
    out = capsys.readouterr().out
    assert "| flat-level recall | 100.0 |" in out
    assert "| verdict finding = ground truth | 100.0 |" in out
