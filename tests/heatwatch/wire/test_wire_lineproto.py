"""Line protocol output: escaping, field types, tag order, measurement per kind."""

from __future__ import annotations

import pytest

from heatwatch.lineproto import (
    escape_measurement,
    escape_string_value,
    escape_tag,
    format_line,
)
from heatwatch.registry import Registry
from heatwatch.wire import Decoded, Kind, Reading, lines_for, to_line

TS = 1795953600000000000


def test_escape_tag_commas_spaces_equals() -> None:
    assert escape_tag("a,b c=d") == r"a\,b\ c\=d"
    assert escape_tag("plain-id_1") == "plain-id_1"


def test_escape_measurement_leaves_equals() -> None:
    assert escape_measurement("my m,x=1") == r"my\ m\,x=1"


def test_escape_string_value_quotes_and_backslashes() -> None:
    assert escape_string_value('say "hi" \\ bye') == r'"say \"hi\" \\ bye"'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb"])
def test_line_breaks_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        format_line("m", [("t", bad)], {"v": 1.0}, TS)


def test_field_types() -> None:
    line = format_line(
        "m", [], {"f": 70.0, "i": 12, "t": True, "n": False, "s": 'a"b', "e": 1e16}, TS
    )
    assert line == f'm f=70.0,i=12i,t=true,n=false,s="a\\"b",e=1e+16 {TS}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="not finite"):
        format_line("m", [], {"v": value}, TS)


def test_empty_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        format_line("m", [], {}, TS)


def test_empty_tag_values_are_left_out() -> None:
    """Line protocol has no empty tag value; a missing tag is the honest equivalent."""
    assert format_line("m", [("a", ""), ("b", "x")], {"v": 1.0}, TS) == f"m,b=x v=1.0 {TS}"


def test_escaped_field_keys() -> None:
    assert format_line("m", [], {"a b": 1.0, "c=d,e": 2.0}, TS) == rf"m a\ b=1.0,c\=d\,e=2.0 {TS}"


def test_telemetry_line_has_sorted_tags_and_integer_seq() -> None:
    reading = Reading(
        Kind.TELEMETRY, "S-01", TS, {"supply_temp": 70.0, "pump_running": True}, seq=42
    )
    assert to_line(reading, "north") == (
        f"telemetry,station=S-01,zone=north supply_temp=70.0,pump_running=true,seq=42i {TS}"
    )
    assert reading.fields == {"supply_temp": 70.0, "pump_running": True}  # not mutated


def test_meter_line_has_meter_tag_first() -> None:
    reading = Reading(Kind.METER, "S-01", TS, {"indoor_temp": 21.5}, meter="F-12")
    assert to_line(reading, "north") == (
        f"meter,meter=F-12,station=S-01,zone=north indoor_temp=21.5 {TS}"
    )


def test_status_line() -> None:
    reading = Reading(Kind.STATUS, "S-01", TS, {"state": "offline", "online": False})
    assert to_line(reading, "unassigned") == (
        f'station_status,station=S-01,zone=unassigned state="offline",online=false {TS}'
    )


def test_zone_with_special_characters_is_escaped() -> None:
    reading = Reading(Kind.TELEMETRY, "S-01", TS, {"supply_temp": 70.0})
    assert to_line(reading, "old town,west") == (
        rf"telemetry,station=S-01,zone=old\ town\,west supply_temp=70.0 {TS}"
    )


def test_lines_for_uses_registry_zones() -> None:
    registry = Registry.model_validate({"stations": [{"id": "S-01", "zone": "north"}]})
    decoded = Decoded(
        readings=[
            Reading(Kind.TELEMETRY, "S-01", TS, {"supply_temp": 70.0}),
            Reading(Kind.TELEMETRY, "S-02", TS, {"supply_temp": 71.0}),
        ]
    )
    assert lines_for(decoded, registry) == [
        f"telemetry,station=S-01,zone=north supply_temp=70.0 {TS}",
        f"telemetry,station=S-02,zone=unassigned supply_temp=71.0 {TS}",
    ]
