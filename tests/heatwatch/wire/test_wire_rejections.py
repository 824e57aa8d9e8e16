"""One test per rejection reason, plus the rules around them: bad readings never take good
neighbours down, optional fields are held to the same standard, and the dead-letter record."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from heatwatch.wire import Decoded, Decoder, Kind, Reason, Rejection

CLOCK = 1795953600.0  # 2026-11-29T12:00:00Z
TOPIC = "heat/S-01/telemetry"
METER_TOPIC = "heat/S-01/meter/F-1"
GOOD: dict[str, Any] = {
    "ts": "2026-11-29T11:59:00Z",
    "supply_temp": 70.0,
    "return_temp": 40.0,
    "pump_running": True,
}


def decode(topic: str, payload: bytes | dict[str, Any] | list[Any]) -> Decoded:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Decoder(clock=lambda: CLOCK).decode(topic, raw)


def only_rejection(decoded: Decoded) -> Rejection:
    assert decoded.readings == []
    assert len(decoded.rejections) == 1, decoded.rejections
    return decoded.rejections[0]


def good(**changes: Any) -> dict[str, Any]:
    reading = {**GOOD, **changes}
    return {k: v for k, v in reading.items() if v is not ...}


# -- one test per reason ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "heat/S-01",
        "heat/S-01/telemetry/extra",
        "heat//telemetry",
        "/heat/S-01/telemetry",
        "heat/S-01/telemetry/",
        "heat/+/telemetry",
        "heat/#",
        "heat/S-01/#",
        "heat/../telemetry",
        "heat/S 01/telemetry",
        "heat/Ström/telemetry",
        "heat/S-٣/telemetry",  # an Arabic-Indic digit: a digit to Unicode, not to the spec
        "heat/" + "S" * 65 + "/telemetry",
        "cold/S-01/telemetry",
        "Heat/S-01/telemetry",
        "heat/S-01/Telemetry",
        "heat/S-01/meter",
        "heat/S-01/meter/",
        "heat/S-01/meter/+",
        "heat/S-01/meter/F 1",
        "heat/S-01/status/x",
        "",
        "heat/S-01/telemetry\n",
    ],
)
def test_bad_topic(topic: str) -> None:
    r = only_rejection(decode(topic, GOOD))
    assert r.reason is Reason.BAD_TOPIC
    assert r.station is None
    assert r.excerpt.startswith('{"ts"')


def test_too_large() -> None:
    """One rejection for the whole message: it is not parsed at all."""
    payload = orjson.dumps([GOOD] * 2000)
    assert len(payload) > 65536
    r = only_rejection(decode(TOPIC, payload))
    assert r.reason is Reason.TOO_LARGE
    assert str(len(payload)) in r.detail
    assert len(r.excerpt) == 200


def test_max_payload_is_configurable_and_inclusive() -> None:
    payload = orjson.dumps(GOOD)
    assert len(Decoder(max_payload=len(payload), clock=lambda: CLOCK)
               .decode(TOPIC, payload).readings) == 1
    r = only_rejection(Decoder(max_payload=len(payload) - 1).decode(TOPIC, payload))
    assert r.reason is Reason.TOO_LARGE


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b'{"ts": }', b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'{"supply_temp": 1e999x}',
     b'{"ts": 1795953590, "supply_temp": 70, "return_temp": 40, "pump_running": true} x'],
)
def test_invalid_json(payload: bytes) -> None:
    r = only_rejection(decode(TOPIC, payload))
    assert r.reason is Reason.INVALID_JSON
    assert r.station == "S-01"


@pytest.mark.parametrize("payload", [b"3", b'"online"', b"null", b"true"])
def test_not_an_object(payload: bytes) -> None:
    assert only_rejection(decode(TOPIC, payload)).reason is Reason.NOT_AN_OBJECT


def test_not_an_object_element_of_an_array() -> None:
    decoded = decode(TOPIC, [GOOD, [GOOD], None])
    assert len(decoded.readings) == 1
    assert [r.reason for r in decoded.rejections] == [Reason.NOT_AN_OBJECT] * 2
    assert decoded.rejections[0].detail.startswith("[1] ")


@pytest.mark.parametrize("field", ["ts", "supply_temp", "return_temp"])
def test_missing_field(field: str) -> None:
    r = only_rejection(decode(TOPIC, good(**{field: ...})))
    assert r.reason is Reason.MISSING_FIELD
    assert field in r.detail


def test_missing_field_meter_indoor_temp() -> None:
    r = only_rejection(decode(METER_TOPIC, {"ts": GOOD["ts"], "supply_temp": 50.0}))
    assert r.reason is Reason.MISSING_FIELD
    assert "indoor_temp" in r.detail


def test_pump_running_is_optional_and_absent_means_unknown() -> None:
    """Real SCADA exports often lack the pump contact: the reading is stored without the field
    (not as a stopped pump), and a null is the same as absent."""
    for reading in (good(pump_running=...), good(pump_running=None)):
        decoded = decode(TOPIC, reading)
        assert decoded.rejections == []
        assert [r.fields for r in decoded.readings] == [{"supply_temp": 70.0, "return_temp": 40.0}]


def test_supply_setpoint_is_checked_like_supply_temp() -> None:
    decoded = decode(TOPIC, good(supply_setpoint=65))
    assert decoded.readings[0].fields["supply_setpoint"] == 65.0
    assert only_rejection(decode(TOPIC, good(supply_setpoint=850.0))).reason is Reason.OUT_OF_RANGE
    assert only_rejection(decode(TOPIC, good(supply_setpoint="65"))).reason is Reason.WRONG_TYPE


def test_null_required_field_is_missing() -> None:
    r = only_rejection(decode(TOPIC, good(supply_temp=None)))
    assert r.reason is Reason.MISSING_FIELD
    assert "supply_temp is null" in r.detail


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("supply_temp", "70.5"),
        ("supply_temp", True),
        ("return_temp", [40]),
        ("pump_running", "on"),
        ("pump_running", "true"),
        ("power_ok", {"v": 1}),
        ("seq", 1.5),
        ("seq", "12"),
        ("flow", False),
    ],
)
def test_wrong_type(field: str, value: object) -> None:
    r = only_rejection(decode(TOPIC, good(**{field: value})))
    assert r.reason is Reason.WRONG_TYPE
    assert field in r.detail


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts": 1795953590, "supply_temp": NaN, "return_temp": 40, "pump_running": true}',
        b'{"ts": 1795953590, "supply_temp": 70, "return_temp": Infinity, "pump_running": true}',
        b'{"ts": 1795953590, "supply_temp": 70, "return_temp": 40, "pump_running": true,'
        b' "flow": -Infinity}',
        b'{"ts": 1795953590, "supply_temp": 1e999, "return_temp": 40, "pump_running": true}',
        b'{"ts": NaN, "supply_temp": 70, "return_temp": 40, "pump_running": true}',
    ],
)
def test_not_finite(payload: bytes) -> None:
    assert only_rejection(decode(TOPIC, payload)).reason is Reason.NOT_FINITE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("supply_temp", 200.01),
        ("supply_temp", -50.5),
        ("return_temp", 850),
        ("primary_supply_temp", 65535),
        ("outdoor_temp", -60.1),
        ("supply_pressure", 25.5),
        ("primary_return_pressure", -1.5),
        ("flow", -0.1),
        ("makeup_flow", 10_001),
        ("tank_level", 101),
        ("pump_freq", 100.5),
        ("heat_power", 1e7),
        ("heat_energy", -1),
        ("seq", -1),
        ("seq", 2**63),
        ("pump_running", 2),
        ("power_ok", -1),
    ],
)
def test_out_of_range(field: str, value: float) -> None:
    r = only_rejection(decode(TOPIC, good(**{field: value})))
    assert r.reason is Reason.OUT_OF_RANGE
    assert r.detail.startswith(field)


@pytest.mark.parametrize(
    ("field", "value"), [("indoor_temp", -39.9), ("indoor_temp", 85), ("humidity", 100.5)]
)
def test_out_of_range_meter(field: str, value: float) -> None:
    reading = {"ts": GOOD["ts"], "indoor_temp": 21.0, field: value}
    assert only_rejection(decode(METER_TOPIC, reading)).reason is Reason.OUT_OF_RANGE


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-29T11:59:00",  # no offset: whose local time?
        "2026-11-29",
        "29.11.2026 11:59",
        "2026-02-30T00:00:00Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T11:59:00+25:00",
        "1999-12-31T23:59:59Z",
        946684799,
        0,
        -5,
        True,
        None,
        {"s": 1},
        "",
    ],
)
def test_bad_timestamp(ts: object) -> None:
    r = only_rejection(decode(TOPIC, good(ts=ts)))
    expected = Reason.MISSING_FIELD if ts is None else Reason.BAD_TIMESTAMP
    assert r.reason is expected


@pytest.mark.parametrize(
    "ts", ["2026-11-29T12:05:01Z", 1795953901, 1795953901000, 1795953900.5, 10**18, 1e30]
)
def test_future_timestamp(ts: object) -> None:
    assert only_rejection(decode(TOPIC, good(ts=ts))).reason is Reason.FUTURE_TIMESTAMP


def test_future_timestamp_huge_integer() -> None:
    rest = b', "supply_temp": 70, "return_temp": 40, "pump_running": 1}'
    payload = b'{"ts": 1' + b"0" * 40 + rest
    assert only_rejection(decode(TOPIC, payload)).reason is Reason.FUTURE_TIMESTAMP


def test_future_limit_is_inclusive_and_configurable() -> None:
    payload = orjson.dumps(good(ts=1795953900))  # exactly 300 s ahead
    assert len(Decoder(clock=lambda: CLOCK).decode(TOPIC, payload).readings) == 1
    strict = Decoder(clock=lambda: CLOCK, max_future_s=10)
    assert only_rejection(strict.decode(TOPIC, payload)).reason is Reason.FUTURE_TIMESTAMP


def test_past_timestamp() -> None:
    decoder = Decoder(clock=lambda: CLOCK, max_past_s=30 * 86400)
    payload = orjson.dumps(good(ts="2026-10-29T11:59:59Z"))  # 31 days before CLOCK
    assert only_rejection(decoder.decode(TOPIC, payload)).reason is Reason.PAST_TIMESTAMP


def test_too_many_fields() -> None:
    decoder = Decoder(clock=lambda: CLOCK, max_extra_fields=3)
    payload = orjson.dumps(good(a=1, b=2, c=3, d=4))
    assert only_rejection(decoder.decode(TOPIC, payload)).reason is Reason.TOO_MANY_FIELDS


def test_field_type_conflict() -> None:
    """Field scope: the reading is kept, the field dropped and reported apart."""
    decoder = Decoder(clock=lambda: CLOCK, field_types={("telemetry", "valve"): "float"})
    out = decoder.decode(TOPIC, orjson.dumps(good(valve=True)))
    assert len(out.readings) == 1 and out.rejections == []
    assert [c.reason for c in out.field_conflicts] == [Reason.FIELD_TYPE_CONFLICT]


@pytest.mark.parametrize("payload", [b"", b"up", b"1", b'"online"', b"\xff", b"on line"])
def test_bad_status(payload: bytes) -> None:
    r = only_rejection(decode("heat/S-01/status", payload))
    assert r.reason is Reason.BAD_STATUS


def test_every_reason_has_a_test() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert {reason.value for reason in Reason} <= tested


# -- the rules around rejections -------------------------------------------------------------


def test_bad_readings_do_not_take_their_neighbours_down() -> None:
    batch = [
        good(seq=1),
        good(seq=2, supply_temp=999),
        "garbage",
        good(seq=4, ts="yesterday"),
        good(seq=5),
        good(seq=6, return_temp=...),
        good(seq=7),
    ]
    decoded = decode(TOPIC, batch)
    assert [r.seq for r in decoded.readings] == [1, 5, 7]
    assert [r.detail[:3] for r in decoded.rejections] == ["[1]", "[2]", "[3]", "[5]"]
    assert len(decoded.readings) + len(decoded.rejections) == len(batch)


def test_non_finite_literal_in_a_batch_keeps_the_rest() -> None:
    payload = (
        b'[{"ts": 1795953590, "supply_temp": 70, "return_temp": 40, "pump_running": true},'
        b' {"ts": 1795953591, "supply_temp": NaN, "return_temp": 40, "pump_running": true},'
        b' {"ts": 1795953592, "supply_temp": 71, "return_temp": 41, "pump_running": true}]'
    )
    decoded = decode(TOPIC, payload)
    assert len(decoded.readings) == 2
    assert [r.reason for r in decoded.rejections] == [Reason.NOT_FINITE]
    assert "NaN" in decoded.rejections[0].excerpt


def test_an_invalid_optional_field_rejects_the_whole_reading() -> None:
    r = only_rejection(decode(TOPIC, good(pump_freq=250.0)))
    assert r.reason is Reason.OUT_OF_RANGE
    assert "pump_freq" in r.detail


def test_null_optional_field_is_treated_as_absent_and_counted() -> None:
    decoded = decode(TOPIC, good(flow=None, power_ok=None))
    assert len(decoded.readings) == 1
    assert "flow" not in decoded.readings[0].fields
    assert decoded.dropped_fields == 2


def test_extra_fields_numbers_and_booleans_kept_others_dropped() -> None:
    decoded = decode(
        TOPIC,
        good(
            valve=37,
            bypass=True,
            dp=0.35,
            _raw=1,
            firmware="2.4",
            nested={"a": 1},
            items=[1],
            none=None,
            **{"bad-name": 1, "time": 5, "zone": 1, "x" * 65: 1},
        ),
    )
    fields = decoded.readings[0].fields
    assert fields["valve"] == 37.0 and type(fields["valve"]) is float
    assert fields["bypass"] is True
    assert fields["dp"] == 0.35
    assert fields["_raw"] == 1.0
    assert decoded.dropped_fields == 8


def test_a_rejected_reading_does_not_count_dropped_fields() -> None:
    decoded = decode(TOPIC, good(supply_temp=999, firmware="2.4"))
    assert decoded.dropped_fields == 0


def test_first_problem_in_payload_order_is_reported() -> None:
    r = only_rejection(decode(TOPIC, good(supply_temp="x", return_temp=999)))
    assert r.reason is Reason.WRONG_TYPE
    r = only_rejection(decode(TOPIC, good(supply_temp=999, return_temp="x")))
    assert r.reason is Reason.OUT_OF_RANGE


def test_utf8_byte_order_mark_is_tolerated() -> None:
    """RFC 8259 lets a parser ignore a BOM; some Windows gateways write one."""
    assert len(decode(TOPIC, b"\xef\xbb\xbf" + orjson.dumps(GOOD)).readings) == 1


def test_rejection_excerpt_is_the_element_and_is_capped() -> None:
    element = good(supply_temp=999, note="x" * 500)
    r = decode(TOPIC, [GOOD, element]).rejections[0]
    assert r.excerpt.startswith('{"ts":"2026-11-29T11:59:00Z"')
    assert len(r.excerpt) == 200


# -- dead-letter record ----------------------------------------------------------------------


def test_dead_letter_record_shape() -> None:
    r = only_rejection(decode(TOPIC, good(supply_temp=999)))
    record = orjson.loads(r.to_json())
    assert record == {
        "reason": "out_of_range",
        "detail": "supply_temp 999 outside -50..200",
        "topic": TOPIC,
        "station": "S-01",
        "excerpt": r.excerpt,
        "received_at": "2026-11-29T12:00:00.000Z",
    }
    assert b"\n" not in r.to_json()
    override = orjson.loads(r.to_json(received_at=CLOCK + 1.5))
    assert override["received_at"] == "2026-11-29T12:00:01.500Z"


def test_dead_letter_record_survives_broken_unicode() -> None:
    r = only_rejection(decode("heat/\udcff/telemetry", b"\xff\xfe garbage"))
    record = orjson.loads(r.to_json())
    assert record["reason"] == "bad_topic"
    assert record["station"] is None
    assert "\ufffd" in record["excerpt"]


def test_status_readings() -> None:
    for payload, online in [(b"online", True), (b" OFFLINE\r\n", False)]:
        decoded = decode("heat/S-01/status", payload)
        (reading,) = decoded.readings
        assert reading.kind is Kind.STATUS
        assert reading.fields == {"state": "online" if online else "offline", "online": online}
        assert reading.ts_ns == int(CLOCK * 1e9)


def test_decode_accepts_other_buffer_types_without_raising() -> None:
    raw = orjson.dumps(GOOD)
    d = Decoder(clock=lambda: CLOCK)
    for payload in (bytearray(raw), memoryview(raw), raw.decode()):
        assert len(d.decode(TOPIC, payload).readings) == 1  # type: ignore[arg-type]
    assert d.decode(TOPIC, 12345).rejections[0].reason is Reason.NOT_AN_OBJECT  # type: ignore[arg-type]
    assert d.decode(None, raw).rejections[0].reason is Reason.BAD_TOPIC  # type: ignore[arg-type]


def test_rejection_carries_meter_and_seq_for_gap_accounting() -> None:
    """A rejected reading still arrived: with its seq the collector need not count a gap."""
    decoded = decode(
        "heat/S-01/meter/F-9",
        [{"ts": 1795953540, "indoor_temp": 99, "seq": 41}, {"ts": 1795953540, "seq": "x"}],
    )
    first, second = decoded.rejections
    assert (first.meter, first.seq) == ("F-9", 41)
    assert (second.meter, second.seq) == ("F-9", None)
    whole = only_rejection(decode("heat/S-01/meter/F-9", b"{"))
    assert (whole.meter, whole.seq) == ("F-9", None)


def test_rejection_without_receive_time_is_stamped_now() -> None:
    record = orjson.loads(Rejection(Reason.BAD_STATUS, "x", "heat/S-01/status").to_json())
    assert record["received_at"] > "2026-"


def test_rejection_text_is_valid_unicode() -> None:
    r = only_rejection(decode("heat/\udcff/telemetry" + "x" * 1000, b"{}"))
    assert len(r.topic) == 512
    r.topic.encode("utf-8")


@pytest.mark.parametrize("prefix", ["", "a/b", "heat/+", "h eat"])
def test_decoder_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        Decoder(prefix=prefix)


def test_custom_prefix() -> None:
    d = Decoder(prefix="dh-test", clock=lambda: CLOCK)
    assert len(d.decode("dh-test/S-01/telemetry", orjson.dumps(GOOD)).readings) == 1
    assert only_rejection(d.decode(TOPIC, orjson.dumps(GOOD))).reason is Reason.BAD_TOPIC


def test_a_payload_full_of_junk_elements_rejects_each_one() -> None:
    payload = b"[" + b"1," * 32700 + b"1]"
    assert len(payload) <= 65536
    decoded = decode(TOPIC, payload)
    assert len(decoded.rejections) == 32701
    assert {r.reason for r in decoded.rejections} == {Reason.NOT_AN_OBJECT}


def test_excerpt_of_a_deeply_nested_element_falls_back_to_the_payload() -> None:
    element = b"[" * 600 + b"]" * 600  # parseable, but deeper than orjson will write back
    decoded = decode(TOPIC, b"[" + element + b"]")
    (r,) = decoded.rejections
    assert r.reason is Reason.NOT_AN_OBJECT
    assert r.excerpt == "[" * 200
