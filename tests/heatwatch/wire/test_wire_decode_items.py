"""``Decoder.decode_items`` (readings already parsed, for ``heatwatch import``) gives exactly
the verdicts ``decode`` gives for the same readings sent as a JSON array."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heatwatch.wire import Decoder, Reason

GOLDEN = Path(__file__).parent / "golden"
CLOCK = 1795953600.0
ARRAYS = ["telemetry_batch", "telemetry_mixed_batch", "telemetry_optional_pump", "meter_batch"]


@pytest.mark.parametrize("name", ARRAYS)
def test_same_verdicts_as_a_json_array(name: str) -> None:
    payload = (GOLDEN / f"{name}.json").read_bytes()
    topic = "heat/S-01/meter/F-1" if name.startswith("meter") else "heat/S-01/telemetry"
    items = json.loads(payload, parse_constant=float)
    decoder = Decoder(clock=lambda: CLOCK)
    from_json = decoder.decode(topic, payload)
    from_items = decoder.decode_items(topic, items)
    assert from_items.readings == from_json.readings
    assert [r.text for r in from_items.readings] == [r.text for r in from_json.readings]
    assert [(r.reason, r.detail, r.station, r.seq) for r in from_items.rejections] == [
        (r.reason, r.detail, r.station, r.seq) for r in from_json.rejections]
    assert from_items.dropped_fields == from_json.dropped_fields
    assert from_items.rejections or name != "telemetry_mixed_batch"


def test_a_nan_float_is_not_finite() -> None:
    decoded = Decoder(clock=lambda: CLOCK).decode_items("heat/S-01/telemetry", [
        {"ts": 1795953590, "supply_temp": float("nan"), "return_temp": 40.0}])
    assert [r.reason for r in decoded.rejections] == [Reason.NOT_FINITE]


@pytest.mark.parametrize(("topic", "reason"), [("heat/S 1/telemetry", Reason.BAD_TOPIC),
                                               ("heat/S-01/status", Reason.BAD_STATUS)])
def test_bad_topics_are_one_rejection(topic: str, reason: Reason) -> None:
    decoded = Decoder().decode_items(topic, [{"ts": 1795953590}])
    assert decoded.readings == [] and [r.reason for r in decoded.rejections] == [reason]
