"""The alert benchmarks run end to end at tiny sizes (``--quick``), so they keep working as the
code under them changes. No timing assertions: CI machines are shared and noisy; the figures
themselves are recorded in docs/benchmarks.md by full runs."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest


def _run(run_bench: Callable[..., str], module: str) -> str:
    out = run_bench(module)
    assert "| machine |" in out
    return out


def test_detection_quick(run_bench: Callable[..., str]) -> None:
    out = _run(run_bench, "detection")
    power = [line for line in out.splitlines() if line.startswith("| recall power_loss")]
    assert power and "| 100.0 |" in power[0]  # the quick suites still find their power losses
    assert "false alerts, normal operation" in out
    # every flat of the fleets over the standard outside a fault: flat_cold pages no one
    assert "| false alerts, all suites run | 0.0 |" in out


def test_flat_truth_tells_a_warm_flat_its_sensor_reads_cold() -> None:
    """The detection score lists a flat_cold apart when the flat was warm by its true
    temperature all along (a biased sensor), and keeps it false when the flat was cold."""
    import numpy as np
    from alertbench import TRUTH_BUCKET_S, FlatTruth, Incident
    from detection import warm_by_truth

    from alerts.config import RulesConfig

    truth = FlatTruth(0.0, 2)
    for t in range(0, 3 * int(TRUTH_BUCKET_S), 60):
        truth.add(float(t), np.array([19.0 + t / 1e4, 17.5]))
    assert truth.low(0, 0.0, 2 * TRUTH_BUCKET_S) == 19.0
    assert truth.low(0, TRUTH_BUCKET_S, 2 * TRUTH_BUCKET_S) == pytest.approx(19.09)
    assert truth.low(1, 0.0, 10 * TRUTH_BUCKET_S) == 17.5
    assert truth.low(0, 10 * TRUTH_BUCKET_S, 11 * TRUTH_BUCKET_S) is None  # not recorded
    rules = RulesConfig()
    warm = Incident("flat_cold", "st-1-f1-1", "st-1", "z", 100.0, 0.0, true_low=18.4)
    cold = Incident("flat_cold", "st-1-f1-2", "st-1", "z", 100.0, 0.0, true_low=17.9)
    other = Incident("zone_cold", "z", None, "z", 100.0, 0.0, true_low=19.0)
    assert [warm_by_truth(i, rules) for i in (warm, cold, other)] == [True, False, False]


def test_alerts_scale_quick(run_bench: Callable[..., str]) -> None:
    out = _run(run_bench, "alerts_scale")
    assert "engine observe + evaluate, whole run" in out


@pytest.mark.skipif(sys.platform != "linux", reason="real Mosquitto from heatwatch.local.servers")
def test_alerts_latency_quick(run_bench: Callable[..., str]) -> None:
    out = _run(run_bench, "alerts_latency")
    assert "| onsets measured | 3.0 | faults | 3 |" in out  # every webhook arrived
