"""bench/households.py end to end at its --quick size (no timing assertions: the figures are
recorded by full runs in docs/benchmarks.md). The script shares its name with the ledger's
package, so it is loaded from its file under another name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "households.py"


def test_households_quick(capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("households_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "households_bench", module)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts bench/ on it
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0  # every target met at the quick size
    out = capsys.readouterr().out
    assert "| flat-level recall | 100.0 |" in out
    assert "| verdict finding = ground truth | 100.0 |" in out
