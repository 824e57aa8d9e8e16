"""Every payload the simulator publishes is valid wire format v1 (decoder and JSON Schema)."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest
from sim_helpers import settings

from heatwatch.wire import Decoder, Kind, load_schema
from simulators.publisher import MemorySink
from simulators.runner import Simulation

ALL_FAULTS: list[dict[str, Any]] = [
    {"kind": "leak", "station": "st-00001", "start": "10m", "duration": "1h", "size": 0.2},
    {"kind": "power_loss", "station": "st-00002", "start": "10m", "duration": "20m"},
    {"kind": "power_loss", "station": "st-00003", "start": "10m", "duration": "20m",
     "backup_power": True},
    {"kind": "power_loss", "gateway": "gw-0003", "start": "30m", "duration": "10m"},
    {"kind": "comm_loss", "station": "st-00004", "start": "5m", "duration": "10m"},
    {"kind": "pump_trip", "station": "st-00005", "start": "5m", "duration": "30m"},
    {"kind": "under_supply", "station": "st-00006", "start": "5m", "duration": "1h",
     "cause": "primary_undertemp"},
    {"kind": "sensor_stuck", "station": "st-00007", "field": "supply_temp", "start": "5m",
     "duration": "1h"},
    {"kind": "sensor_spikes", "station": "st-00001", "field": "return_temp", "start": "5m",
     "duration": "1h", "size": 300, "rate": 0.5},
    {"kind": "sensor_sentinel", "station": "st-00002", "field": "indoor_temp", "start": "0m",
     "duration": "1h"},
    {"kind": "sensor_sentinel", "station": "st-00008", "field": "return_pressure",
     "start": "0m", "duration": "1h", "size": -39.9},
    {"kind": "duplicates", "station": "st-00004", "start": "20m", "duration": "1h", "rate": 0.5},
    {"kind": "out_of_order", "station": "st-00005", "start": "0m", "duration": "1h", "rate": 0.5},
    {"kind": "clock_skew", "station": "st-00006", "start": "0m", "duration": "1h", "size": -900},
]


def _messages(**kw: Any) -> list[Any]:
    s = settings(stations=8, faults=ALL_FAULTS, duration="50m",
                 fleet={"stations_per_gateway": 2, "flats_per_station": [5, 12]}, **kw)
    sim = Simulation(s)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    return sink.messages


@pytest.mark.parametrize("reporting", [
    {"ts_format": "epoch_ms"},
    {"ts_format": "rfc3339", "batch": 3},
])
def test_every_payload_decodes_and_matches_the_schema(reporting: dict[str, Any]) -> None:
    msgs = _messages(reporting=reporting)
    decoder = Decoder(clock=lambda: 2_000_000_000.0)
    schemas = {k: load_schema(k) for k in (Kind.TELEMETRY, Kind.METER)}
    validators = {k: jsonschema.Draft202012Validator(v) for k, v in schemas.items()}
    kinds = {"telemetry": 0, "meter": 0, "status": 0}
    for m in msgs:
        decoded = decoder.decode(m.topic, m.payload)
        assert not decoded.rejections, (m.topic, m.payload[:200], decoded.rejections)
        kind = m.topic.split("/")[2]
        kinds[kind] += 1
        if kind == "status":
            assert m.payload in (b"online", b"offline") and m.retain
            continue
        doc = orjson.loads(m.payload)
        for item in doc if isinstance(doc, list) else [doc]:
            validators[Kind(kind)].validate(item)
    assert all(kinds.values()), kinds


def test_sentinels_and_spikes_stay_inside_the_wire_ranges() -> None:
    msgs = _messages()
    values = [orjson.loads(m.payload) for m in msgs if m.topic.endswith("/telemetry")]
    returns = [v["return_temp"] for v in values]
    assert max(returns) <= 200.0  # a +300 K spike is clipped to the range, as a logger would
    pressures = [v["return_pressure"] for v in values if v["return_pressure"] == -39.9]
    assert not pressures  # -39.9 bar is outside -1..25: clipped to -1
