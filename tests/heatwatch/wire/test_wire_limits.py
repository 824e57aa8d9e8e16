"""Issue #13 items 5 and 6: a bound on the past, and bounds on extra fields.

Before: any time after 2000 was accepted (each old week opened an InfluxDB shard), and one
reading with 3,000 extra fields was stored whole (``/api/v1/stations`` grew from 1 KB to
109 KB).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heatwatch.wire import Decoder, Reason

NOW = 1795953600.0  # 2026-11-29T12:00:00Z
DAY = 86400.0
TOPIC = "heat/S-1/telemetry"


def clock() -> float:
    return NOW


def reading(ts: float, **extra: Any) -> dict[str, Any]:
    return {"ts": ts, "supply_temp": 70.0, "return_temp": 40.0, **extra}


def decode_one(decoder: Decoder, doc: dict[str, Any]) -> tuple[int, list[Reason]]:
    out = decoder.decode_items(TOPIC, [doc])
    return len(out.readings), [r.reason for r in out.rejections]


def test_max_past_s_rejects_older_readings_as_past_timestamp() -> None:
    decoder = Decoder(max_past_s=30 * DAY, clock=clock)
    assert decode_one(decoder, reading(NOW - 29 * DAY)) == (1, [])
    n, reasons = decode_one(decoder, reading(NOW - 31 * DAY))
    assert (n, reasons) == (0, [Reason.PAST_TIMESTAMP])
    assert decode_one(decoder, reading(978307200.0)) == (0, [Reason.PAST_TIMESTAMP])  # 2001


def test_without_max_past_s_history_loads_as_heatwatch_import_needs() -> None:
    """``heatwatch import`` builds its decoder with max_past_s=None (collector/importer.py)."""
    decoder = Decoder(max_past_s=None, clock=clock)
    assert decode_one(decoder, reading(978307200.0)) == (1, [])


def test_collector_default_is_30_days() -> None:
    from collector.config import ValidationSettings

    assert ValidationSettings().max_past_s == 30 * DAY


def extras(n: int, prefix: str = "x") -> dict[str, float]:
    return {f"{prefix}{i}": float(i) for i in range(n)}


def test_reading_with_too_many_extra_fields_is_rejected() -> None:
    decoder = Decoder(max_extra_fields=50, clock=clock)
    assert decode_one(decoder, reading(NOW, **extras(50))) == (1, [])
    assert decode_one(decoder, reading(NOW, **extras(3000))) == (0, [Reason.TOO_MANY_FIELDS])


def test_distinct_extra_names_per_station_are_capped_and_counted() -> None:
    decoder = Decoder(max_extra_names=10, clock=clock)
    out = decoder.decode_items(TOPIC, [reading(NOW, **extras(8, "a")),
                                       reading(NOW + 1, **extras(8, "b"))])
    assert len(out.readings) == 2, "the readings are kept"
    first, second = out.readings
    assert len(first.fields) == 2 + 8
    assert sorted(second.fields) == ["b0", "b1", "return_temp", "supply_temp"]
    assert out.capped_fields == 6 and out.dropped_fields == 6
    again = decoder.decode_items(TOPIC, [reading(NOW + 2, a0=1.0, b7=1.0)])
    assert sorted(again.readings[0].fields) == ["a0", "return_temp", "supply_temp"]
    other = decoder.decode_items("heat/S-2/telemetry", [reading(NOW, b7=1.0)])
    assert "b7" in other.readings[0].fields, "the cap is per station"


def test_known_field_type_drops_only_the_conflicting_extra_field() -> None:
    types = {("telemetry", "valve"): "boolean"}
    decoder = Decoder(field_types=types, clock=clock)
    out = decoder.decode_items(TOPIC, [reading(NOW, valve=2.5, damper=True),
                                       reading(NOW + 1, valve=False)])
    assert [sorted(r.fields) for r in out.readings] == [
        ["damper", "return_temp", "supply_temp"],
        ["return_temp", "supply_temp", "valve"],
    ]
    assert "valve" not in out.readings[0].text
    [conflict] = out.field_conflicts
    assert conflict.reason is Reason.FIELD_TYPE_CONFLICT and "valve" in conflict.detail
    assert out.rejections == []
    assert types[("telemetry", "damper")] == "boolean", "new extras are learned"


def test_limits_cost_nothing_without_extras() -> None:
    make: Callable[[], Decoder] = lambda: Decoder(  # noqa: E731
        max_past_s=30 * DAY, max_extra_fields=0, max_extra_names=0, field_types={}, clock=clock)
    assert decode_one(make(), reading(NOW)) == (1, [])
