"""bench/soak.py end to end at toy size: the whole stack as processes for ~45 s, nothing lost.

No timing or memory assertions (CI machines are shared); the 30-minute city-load figures live
in docs/benchmarks.md. This keeps the soak harness itself working: servers, services,
simulator, sampling and the published-vs-stored accounting.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_soak_quick_loses_nothing(tmp_path: Path) -> None:
    soak = importlib.import_module("soak")  # bench/ is on sys.path for these tests
    res = soak.run_soak(minutes=0.75, stations=40, flats=5, per_gateway=40, work=tmp_path,
                        log=False, drain_minutes=2.0)
    assert res.published["telemetry"] > 40 * 3  # every station reported several times
    assert res.lost == 0, (res.published, res.stored)
    assert res.rejected == 0
    sampled = {p.name for p in res.procs if len(p.samples) >= 2}
    assert {"collector", "alert engine", "simulator"} <= sampled
    assert "readings lost" in soak.report(res)
