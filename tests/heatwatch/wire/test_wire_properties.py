"""Property tests: the decoder never raises, and every reading is accounted for.

"Accounted for" means: a message carrying n readings (1 for an object, n for an array) yields
exactly n readings plus rejections, each array element gets the same verdict it would get alone,
and whatever is accepted is finite, in range and writable as line protocol.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from typing import Any

import jsonschema
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatwatch.lineproto import format_line
from heatwatch.wire import FIELDS, Decoded, Decoder, Kind, Reading, load_schema, to_line
from heatwatch.wirefields import FLAG, MIN_TS_NS, NUMBER

CLOCK = 1795953600.0  # 2026-11-29T12:00:00Z
MAX_NS = int((CLOCK + 300) * 1e9)
# HEATWATCH_WIRE_EXAMPLES=20000 (with pytest --timeout=0) for a longer hunt than the default.
PROFILE = settings(
    max_examples=int(os.environ.get("HEATWATCH_WIRE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALIDATORS = {
    kind: jsonschema.Draft202012Validator(load_schema(kind))
    for kind in (Kind.TELEMETRY, Kind.METER)
}
DECODER = Decoder(clock=lambda: CLOCK)
TOPICS = {Kind.TELEMETRY: "heat/S-01/telemetry", Kind.METER: "heat/S-01/meter/F-1"}
LINE = re.compile(
    r"^(telemetry|meter|station_status)(,[a-z]+=[A-Za-z0-9_-]+)+ "
    r"[A-Za-z0-9_]+=[^ ]+(,[A-Za-z0-9_]+=[^ ]+)* -?[0-9]+$"
)

# -- strategies ------------------------------------------------------------------------------

topic_parts = st.one_of(
    st.sampled_from(["heat", "S-01", "telemetry", "meter", "status", "F-1", "", "+", "#", ".."]),
    st.text(max_size=70),
)
topics = st.one_of(
    st.text(),
    st.lists(topic_parts, min_size=1, max_size=6).map("/".join),
    st.sampled_from(["heat/S-01/telemetry", "heat/S-01/meter/F-1", "heat/S-01/status"]),
)
payloads = st.one_of(st.binary(max_size=2048), st.text().map(lambda s: s.encode("utf-8")))

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["2026-11-29T11:59:00Z", "2026-11-29T11:59:00", "1999-01-01T00:00:00Z"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ALL_KNOWN = sorted({name for specs in FIELDS.values() for name in specs})
field_names = st.one_of(st.sampled_from(ALL_KNOWN), st.text(max_size=70))


def _timestamp() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(min_value=1795900000, max_value=1795953900),
        st.integers(min_value=1795900000000, max_value=1795953900000),
        st.floats(min_value=1795900000, max_value=1795953900),
        json_scalars,
    )


def _plausible(kind: Kind) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that are nearly valid readings of ``kind``: right names, wild values."""
    specs = FIELDS[kind]
    value_for: dict[str, st.SearchStrategy[object]] = {}
    for name, spec in specs.items():
        if spec.check == NUMBER:
            lo, hi = max(spec.lo, -1e6), min(spec.hi, 1e9)
            good: st.SearchStrategy[object] = st.floats(min_value=lo, max_value=hi)
        elif spec.check == FLAG:
            good = st.sampled_from([True, False, 0, 1])
        elif name == "ts":
            good = _timestamp()
        else:
            good = st.integers(min_value=0, max_value=2**63 - 1)
        value_for[name] = st.one_of(good, good, json_values)
    required = {n: value_for[n] for n, s in specs.items() if s.required}
    optional = {n: value_for[n] for n, s in specs.items() if not s.required}
    base = st.fixed_dictionaries(required, optional=optional)
    extras = st.dictionaries(field_names, json_values, max_size=3)
    return st.tuples(base, extras).map(lambda pair: {**pair[1], **pair[0]})


def _element(kind: Kind) -> st.SearchStrategy[object]:
    return st.one_of(_plausible(kind), _plausible(kind), json_values)


def _message(kind: Kind) -> st.SearchStrategy[object]:
    return st.one_of(_element(kind), st.lists(_element(kind), max_size=8))


def _dumps(doc: object) -> bytes:
    # The stdlib writes NaN/Infinity literals and huge integers, like a careless gateway would.
    return json.dumps(doc, allow_nan=True).encode("utf-8")


# -- checks ----------------------------------------------------------------------------------


def _check_reading(reading: Reading, kind: Kind) -> None:
    assert reading.kind is kind
    assert MIN_TS_NS <= reading.ts_ns <= MAX_NS
    specs = FIELDS[kind]
    for name, value in reading.fields.items():
        assert type(value) in (float, bool), (name, value)
        if type(value) is float:
            assert math.isfinite(value)
        spec = specs.get(name)
        if spec is not None and spec.check == NUMBER:
            assert spec.lo <= value <= spec.hi
    for name, spec in specs.items():
        if spec.required and name not in ("ts", "seq"):
            assert name in reading.fields
    if reading.seq is not None:
        assert 0 <= reading.seq < 2**63
    assert LINE.match(to_line(reading, "north")), to_line(reading, "north")


def _verdicts(decoded: Decoded) -> list[object]:
    return [*decoded.readings, *(r.reason for r in decoded.rejections)]


# -- properties ------------------------------------------------------------------------------


@PROFILE
@given(topic=topics, payload=payloads)
def test_decode_never_raises_on_arbitrary_input(topic: str, payload: bytes) -> None:
    decoded = DECODER.decode(topic, payload)
    assert len(decoded.readings) + len(decoded.rejections) >= 1 or payload.strip() == b"[]"
    for rejection in decoded.rejections:
        assert orjson.loads(rejection.to_json())["reason"] == rejection.reason.value
        assert len(rejection.excerpt) <= 200
    for reading in decoded.readings:
        to_line(reading, "north")


@PROFILE
@given(kind=st.sampled_from([Kind.TELEMETRY, Kind.METER]), data=st.data())
def test_every_reading_is_returned_or_rejected(kind: Kind, data: st.DataObject) -> None:
    doc = data.draw(_message(kind))
    decoded = DECODER.decode(TOPICS[kind], _dumps(doc))
    if isinstance(doc, list):
        assert len(decoded.readings) + len(decoded.rejections) == len(doc)
        # Each element gets the verdict it would get on its own, in order.
        alone: list[object] = []
        for element in doc:
            alone += _verdicts(DECODER.decode(TOPICS[kind], _dumps([element])))
        assert sorted(map(repr, _verdicts(decoded))) == sorted(map(repr, alone))
        indexes = [int(r.detail[1 : r.detail.index("]")]) for r in decoded.rejections]
        assert indexes == sorted(set(indexes))
    else:
        assert len(decoded.readings) + len(decoded.rejections) == 1
    for reading in decoded.readings:
        _check_reading(reading, kind)
    for rejection in decoded.rejections:
        assert rejection.detail
        assert rejection.station == "S-01"
        orjson.loads(rejection.to_json())


def _valid(kind: Kind) -> st.SearchStrategy[dict[str, Any]]:
    specs = FIELDS[kind]
    value_for: dict[str, st.SearchStrategy[object]] = {}
    for name, spec in specs.items():
        if spec.check == NUMBER:
            lo, hi = spec.lo, min(spec.hi, 1e12)
            value_for[name] = st.one_of(
                st.floats(min_value=lo, max_value=hi),
                st.integers(min_value=math.ceil(lo), max_value=math.floor(hi)),
            )
        elif spec.check == FLAG:
            value_for[name] = st.sampled_from([True, False, 0, 1])
        elif name == "ts":
            value_for[name] = st.integers(min_value=946684800, max_value=1795953900)
        else:
            value_for[name] = st.integers(min_value=0, max_value=2**63 - 1)
    return st.fixed_dictionaries(
        {n: value_for[n] for n, s in specs.items() if s.required},
        optional={n: value_for[n] for n, s in specs.items() if not s.required},
    )


@PROFILE
@given(kind=st.sampled_from([Kind.TELEMETRY, Kind.METER]), data=st.data())
def test_valid_readings_round_trip_and_match_the_schema(kind: Kind, data: st.DataObject) -> None:
    element = data.draw(_valid(kind))
    VALIDATORS[kind].validate(element)
    decoded = DECODER.decode(TOPICS[kind], orjson.dumps(element))
    assert decoded.rejections == []
    (reading,) = decoded.readings
    assert reading.ts_ns == element["ts"] * 10**9
    assert reading.seq == element.get("seq")
    expected = {
        k: (v == 1 if FIELDS[kind][k].check == FLAG else float(v))
        for k, v in element.items()
        if k not in ("ts", "seq")
    }
    assert reading.fields == expected
    line = to_line(reading, "zone-1")
    assert line.endswith(f" {element['ts'] * 10**9}")
    _same_line(line, format_line(
        "telemetry" if kind is Kind.TELEMETRY else "meter",
        [("meter", "F-1")] * (kind is Kind.METER) + [("station", "S-01"), ("zone", "zone-1")],
        {**expected, **({"seq": element["seq"]} if "seq" in element else {})},
        element["ts"] * 10**9,
    ))


def _same_line(line: str, expected: str) -> None:
    """Equal lines, except that a float may be written in another form of the same double
    (``1.5e-7`` and ``1.5e-07``): the decoder's field text comes from orjson, the generic
    formatter uses ``repr``."""
    head, fields, ts = line.split(" ")
    e_head, e_fields, e_ts = expected.split(" ")
    assert (head, ts) == (e_head, e_ts)
    pairs = [f.split("=") for f in fields.split(",")]
    e_pairs = [f.split("=") for f in e_fields.split(",")]
    assert [k for k, _ in pairs] == [k for k, _ in e_pairs]
    for (key, value), (_, e_value) in zip(pairs, e_pairs, strict=True):
        if value in ("true", "false") or value.endswith("i"):
            assert value == e_value, key
        else:
            assert repr(float(value)) == repr(float(e_value)), key  # -0.0 stays -0.0
            assert "." in value or "e" in value, "a float InfluxDB would store as a float"


@PROFILE
@given(kind=st.sampled_from([Kind.TELEMETRY, Kind.METER]), data=st.data())
def test_field_text_writes_the_lines_the_fields_give(kind: Kind, data: st.DataObject) -> None:
    """The decoder writes each reading's field set (orjson, for speed); it must be the line
    the generic formatter makes of the reading's fields."""
    doc = data.draw(st.one_of(_message(kind), st.lists(_valid(kind), max_size=4)))
    for reading in DECODER.decode(TOPICS[kind], _dumps(doc)).readings:
        assert reading.text
        _same_line(to_line(reading, "z"), to_line(replace(reading, text=""), "z"))
