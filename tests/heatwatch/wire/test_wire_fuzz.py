"""The fuzzer of bench/fuzz.py at CI size: no crash, every reading stored or rejected, and a
sample end to end through the real Mosquitto, collector and InfluxDB (about 30 s in all).

The benchmark run (``make bench``) sends 100,000 payloads and 2,000 end to end; here a few
thousand keep the checks themselves from rotting and catch the obvious regressions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import fuzz

from heatwatch.wire import Decoder


def test_fuzzed_payloads_never_crash_and_are_all_accounted_for() -> None:
    res = fuzz.run_fuzz(3000, keep_sample=0)
    assert res.examples == 3000
    assert res.crashes == 0, res.first_failures
    assert res.violations == 0, res.first_failures
    # The generator reaches both sides: valid readings and many kinds of rejection.
    assert res.readings > 0  # (how many varies a lot between random runs: 100-300 seen)
    assert {"bad_topic", "invalid_json", "too_large", "missing_field"} <= set(res.rejections)


@pytest.mark.parametrize("depth", [1000, 100_000, 1_000_000])
def test_deeply_nested_json_is_rejected_not_a_crash(depth: int) -> None:
    decoder = Decoder()
    for payload in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        decoded = decoder.decode("heat/st-1/telemetry", payload)
        fuzz.check("heat/st-1/telemetry", payload, decoded)
        assert not decoded.readings and len(decoded.rejections) == 1


@pytest.mark.parametrize("station", ["+", "#", "..", "$SYS", "", "st 1", "ü", "a" * 65,
                                     "st-1/x", "st\x00"])
def test_topic_injection_never_yields_a_reading(station: str) -> None:
    decoder = Decoder()
    payload = b'{"ts": 1764000000000, "supply_temp": 1, "return_temp": 1, "pump_running": true}'
    for topic in (f"heat/{station}/telemetry", f"heat/st-1/meter/{station}",
                  f"heat/{station}/status"):
        decoded = decoder.decode(topic, payload)
        assert not decoded.readings
        assert [r.reason for r in decoded.rejections] == ["bad_topic"]


def test_very_long_topic_is_cut_in_the_dead_letter() -> None:
    topic = "heat/" + "x" * 70_000 + "/telemetry"
    decoded = Decoder().decode(topic, b"{}")
    (rej,) = decoded.rejections
    assert rej.reason == "bad_topic" and len(rej.topic) <= 512


@pytest.mark.servers
def test_fuzzed_sample_end_to_end(tmp_path: Path) -> None:
    res = fuzz.run_fuzz(1500, keep_sample=300)
    e2e = fuzz.run_e2e(res.sample, tmp_path)
    assert e2e.published > 50
    assert e2e.collector_readings == e2e.decoder_readings
    assert e2e.collector_rejected == e2e.decoder_rejections
    assert e2e.stored_points == e2e.expected_points
    assert e2e.foreign_points == 0
    assert e2e.dead_letters == e2e.collector_rejected
