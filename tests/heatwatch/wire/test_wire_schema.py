"""The JSON Schema ships with the package, is valid draft 2020-12, agrees with the decoder's
field table, and refuses what the decoder rejects (where a schema can tell)."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

import jsonschema
import orjson
import pytest

from heatwatch.wire import FIELDS, Decoder, Kind, load_schema
from heatwatch.wirefields import FLAG, NUMBER

CLOCK = 1795953600.0
TOPICS = {Kind.TELEMETRY: "heat/S-01/telemetry", Kind.METER: "heat/S-01/meter/F-1"}
TELEMETRY = {"ts": "2026-11-29T11:59:00Z", "supply_temp": 70, "return_temp": 40,
             "pump_running": True}
METER = {"ts": 1795953540, "indoor_temp": 21.5}
BASE = {Kind.TELEMETRY: TELEMETRY, Kind.METER: METER}


def validator(kind: Kind) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(kind))


def test_schema_is_package_data() -> None:
    resource = resources.files("heatwatch.schemas").joinpath("wire-v1.schema.json")
    assert resource.is_file()


@pytest.mark.parametrize("kind", [Kind.TELEMETRY, Kind.METER])
def test_schema_is_valid_draft_2020_12(kind: Kind) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema(kind))


def test_no_schema_for_status() -> None:
    with pytest.raises(ValueError, match="plain text"):
        load_schema(Kind.STATUS)


def test_load_schema_returns_a_fresh_copy() -> None:
    load_schema(Kind.TELEMETRY)["$defs"].clear()
    assert load_schema(Kind.TELEMETRY)["$defs"]


@pytest.mark.parametrize("kind", [Kind.TELEMETRY, Kind.METER])
def test_schema_matches_the_field_table(kind: Kind) -> None:
    schema = load_schema(kind)
    obj = schema["$defs"][kind.value]
    assert set(obj["required"]) == {n for n, s in FIELDS[kind].items() if s.required}
    assert set(obj["properties"]) == set(FIELDS[kind])
    for name, spec in FIELDS[kind].items():
        prop = obj["properties"][name]
        if spec.check == NUMBER:
            assert prop["type"] == "number"
            # Unbounded ends (the float extremes) are left out of the schema.
            assert prop.get("minimum", -sys.float_info.max) == spec.lo
            assert prop.get("maximum", sys.float_info.max) == spec.hi
            assert spec.unit in prop["description"]
        elif spec.check == FLAG:
            assert prop["$ref"] == "#/$defs/flag"


@pytest.mark.parametrize("kind", [Kind.TELEMETRY, Kind.METER])
def test_single_object_and_array_are_both_valid(kind: Kind) -> None:
    v = validator(kind)
    v.validate(BASE[kind])
    v.validate([BASE[kind], BASE[kind]])
    v.validate([])


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (Kind.TELEMETRY, {"supply_temp": 250}),
        (Kind.TELEMETRY, {"supply_temp": "70"}),
        (Kind.TELEMETRY, {"supply_temp": True}),
        (Kind.TELEMETRY, {"return_temp": ...}),
        (Kind.TELEMETRY, {"pump_running": 2}),
        (Kind.TELEMETRY, {"pump_running": "on"}),
        (Kind.TELEMETRY, {"ts": "2026-11-29T11:59:00"}),
        (Kind.TELEMETRY, {"ts": 946684799}),
        (Kind.TELEMETRY, {"ts": True}),
        (Kind.TELEMETRY, {"seq": -1}),
        (Kind.TELEMETRY, {"seq": 1.5}),
        (Kind.TELEMETRY, {"flow": -1}),
        (Kind.TELEMETRY, {"heat_energy": -0.5}),
        (Kind.TELEMETRY, {"power_ok": "yes"}),
        (Kind.METER, {"indoor_temp": -39.9}),
        (Kind.METER, {"indoor_temp": ...}),
        (Kind.METER, {"humidity": 101}),
    ],
)
def test_schema_and_decoder_both_refuse(kind: Kind, changes: dict[str, Any]) -> None:
    reading = {k: v for k, v in {**BASE[kind], **changes}.items() if v is not ...}
    assert not validator(kind).is_valid(reading)
    assert not validator(kind).is_valid([BASE[kind], reading])
    decoded = Decoder(clock=lambda: CLOCK).decode(TOPICS[kind], orjson.dumps(reading))
    assert decoded.readings == [] and len(decoded.rejections) == 1


def test_extra_fields_numbers_and_booleans_only() -> None:
    """The schema describes payloads that are stored completely; the decoder also takes the
    others but drops their non-numeric extras (and counts them)."""
    v = validator(Kind.TELEMETRY)
    assert v.is_valid({**TELEMETRY, "valve_position": 37, "bypass_open": False})
    for extra in ({"firmware": "2.4"}, {"alarms": []}, {"bad name": 1}, {"time": 1}):
        assert not v.is_valid({**TELEMETRY, **extra}), extra
        decoded = Decoder(clock=lambda: CLOCK).decode(
            TOPICS[Kind.TELEMETRY], orjson.dumps({**TELEMETRY, **extra})
        )
        assert len(decoded.readings) == 1 and decoded.dropped_fields == 1


def test_a_telemetry_reading_is_not_a_meter_reading() -> None:
    assert not validator(Kind.METER).is_valid(TELEMETRY)
