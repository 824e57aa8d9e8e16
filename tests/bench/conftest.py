"""The bench smoke tests import the benchmark scripts of ``bench/`` as modules (they are
scripts, not a package): every test here gets that folder on ``sys.path``, and ``run_bench``
runs one at its tiny size."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


@pytest.fixture
def run_bench(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """``run_bench("detection")``: the script's ``main(["--quick"])`` (or the arguments
    given) must return 0; returns what it printed."""

    def run(module: str, *argv: str) -> str:
        mod = importlib.import_module(module)
        assert mod.main(list(argv) or ["--quick"]) == 0
        return capsys.readouterr().out

    return run
