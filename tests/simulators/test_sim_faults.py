"""Fault injection: what each fault does to what is published, and its ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from sim_helpers import START, settings

from simulators.publisher import MemorySink
from simulators.runner import Simulation

T0 = datetime.fromisoformat(START).timestamp()


def _run(faults: list[dict[str, Any]], tmp_path: Path | None = None, **kw: Any
         ) -> tuple[Simulation, list[Any]]:
    s = settings(faults=faults, **kw)
    if tmp_path is not None:
        s = s.model_copy(update={"output": s.output.model_copy(
            update={"ground_truth": tmp_path / "truth.jsonl"})})
    sim = Simulation(s)
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    return sim, sink.messages


def _docs(msgs: list[Any], topic_end: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.payload) for m in msgs if m.topic.endswith(topic_end)]


def _ts(doc: dict[str, Any]) -> float:
    return float(doc["ts"]) / 1000.0


def test_power_loss_silences_the_station_and_announces_offline() -> None:
    faults = [{"kind": "power_loss", "station": "st-00002", "start": "30m", "duration": "30m"}]
    _, msgs = _run(faults)
    docs = _docs(msgs, "st-00002/telemetry")
    assert not [d for d in docs if T0 + 1800 <= _ts(d) < T0 + 3600]
    status = [m.payload for m in msgs if m.topic == "heat/st-00002/status"]
    assert status == [b"online", b"offline", b"online", b"offline"]  # start, cut, back, exit
    after = [d for d in docs if _ts(d) >= T0 + 3600]
    assert after[0]["seq"] == 0, "the logger restarts its counter after a power cut"
    assert after[-1]["pump_running"] is True and after[-1]["power_ok"] is True


def test_power_loss_with_backup_keeps_reporting_power_ok_false() -> None:
    faults = [{"kind": "power_loss", "station": "st-00002", "start": "30m", "duration": "30m",
               "backup_power": True}]
    _, msgs = _run(faults)
    during = [d for d in _docs(msgs, "st-00002/telemetry") if T0 + 1800 <= _ts(d) < T0 + 3600]
    assert len(during) == 180
    assert all(d["power_ok"] is False and d["pump_running"] is False for d in during)
    assert [m.payload for m in msgs if m.topic == "heat/st-00002/status"] == [
        b"online", b"offline"]


def test_gateway_power_loss_fires_the_will_of_its_first_station() -> None:
    faults = [{"kind": "power_loss", "gateway": "gw-0002", "start": "30m", "duration": "20m"}]
    _, msgs = _run(faults, fleet={"stations_per_gateway": 3})
    for sid in ("st-00004", "st-00005", "st-00006"):
        docs = _docs(msgs, f"{sid}/telemetry")
        assert not [d for d in docs if T0 + 1800 <= _ts(d) < T0 + 3000]
    status = [m.payload for m in msgs if m.topic == "heat/st-00004/status"]
    assert status == [b"online", b"offline", b"online", b"offline"]
    assert [m.payload for m in msgs if m.topic == "heat/st-00005/status"] == [
        b"online", b"online", b"offline"]


def test_comm_loss_is_silent_without_offline_and_leaves_a_seq_gap() -> None:
    faults = [{"kind": "comm_loss", "station": "st-00003", "start": "30m", "duration": "10m"}]
    _, msgs = _run(faults)
    docs = _docs(msgs, "st-00003/telemetry")
    assert not [d for d in docs if T0 + 1800 <= _ts(d) < T0 + 2400]
    seqs = [d["seq"] for d in docs]
    gaps = [b - a for a, b in pairwise(seqs) if b - a != 1]
    assert gaps == [61]
    assert [m.payload for m in msgs if m.topic == "heat/st-00003/status"] == [
        b"online", b"offline"]
    assert not [d for d in _docs(msgs, "/telemetry") if d["power_ok"] is False]


def test_delivery_faults_duplicate_reorder_and_skew() -> None:
    faults = [
        {"kind": "duplicates", "station": "st-00001", "start": "10m", "duration": "1h",
         "rate": 0.3},
        {"kind": "out_of_order", "station": "st-00002", "start": "10m", "duration": "1h",
         "rate": 0.3, "delay_s": 60},
        {"kind": "clock_skew", "station": "st-00003", "start": "0m", "duration": "3h",
         "size": -900},
    ]
    _, msgs = _run(faults)
    dup = Counter(m.payload for m in msgs if m.topic == "heat/st-00001/telemetry")
    assert 100 < sum(1 for c in dup.values() if c == 2) < 300
    ts2 = [_ts(d) for d in _docs(msgs, "st-00002/telemetry")]
    assert sum(1 for a, b in pairwise(ts2) if b < a) > 50
    ts3 = [_ts(d) for d in _docs(msgs, "st-00003/telemetry")]
    assert T0 - 900 <= ts3[0] < T0 - 890


def test_sensor_faults_stuck_spikes_sentinel() -> None:
    faults = [
        {"kind": "sensor_stuck", "station": "st-00001", "field": "supply_temp", "start": "30m",
         "duration": "30m"},
        {"kind": "sensor_spikes", "station": "st-00002", "field": "return_temp", "start": "0m",
         "duration": "2h", "size": 40, "rate": 0.1},
        {"kind": "sensor_sentinel", "station": "st-00003", "field": "indoor_temp",
         "start": "0m", "duration": "2h"},
    ]
    _, msgs = _run(faults)
    stuck = {d["supply_temp"] for d in _docs(msgs, "st-00001/telemetry")
             if T0 + 1800 <= _ts(d) < T0 + 3600}
    assert len(stuck) == 1
    ret = [d["return_temp"] for d in _docs(msgs, "st-00002/telemetry")]
    median = sorted(ret)[len(ret) // 2]
    assert 40 < sum(1 for r in ret if abs(r - median) > 30) < 140
    flats3 = {d["indoor_temp"] for m in msgs if m.topic.startswith("heat/st-00003/meter/")
              for d in [orjson.loads(m.payload)]}
    assert flats3 == {-30.0}  # -39.9 is below the indoor range: clipped to its floor


def test_ground_truth_matches_the_schedule(tmp_path: Path) -> None:
    faults = [
        {"kind": "leak", "station": "st-00002", "start": "10m", "duration": "1h", "size": 0.05},
        {"kind": "pump_trip", "zone": "dadong", "start": "20m", "duration": "30m"},
        {"kind": "sensor_sentinel", "station": "st-00004", "field": "indoor_temp",
         "meter": None, "start": "0m", "duration": "5m"},
        {"kind": "comm_loss", "station": "st-00005", "start": "5h", "duration": "1h"},  # after end
    ]
    sim, _ = _run(faults, tmp_path, stations=9)
    rows = [orjson.loads(line) for line in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    lay = sim.fleet.layout
    dadong = [lay.station_ids[i] for i in range(9) if lay.zone_of(i) == "dadong"]
    expected = {("leak", "st-00002"), ("sensor_sentinel", "st-00004")}
    expected |= {("pump_trip", s) for s in dadong}
    assert {(r["kind"], r["station"]) for r in rows} == expected
    leak = next(r for r in rows if r["kind"] == "leak")
    assert leak["start"] == "2026-01-11T16:10:00.000Z" and leak["end"] == "2026-01-11T17:10:00.000Z"
    assert leak["details"] == {"size": 0.05, "ramp_s": 900.0} and leak["zone"] == lay.zone_of(1)
    assert all(r["zone"] == "dadong" for r in rows if r["kind"] == "pump_trip")


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "leak", "start": "1h"}, "exactly one target"),
    ({"kind": "leek", "station": "st-00001"}, "leak"),
    ({"kind": "sensor_stuck", "station": "st-00001"}, "needs field"),
    ({"kind": "leak", "station": "st-00001", "duration": "6 hours"}, "not a duration"),
    ({"kind": "leak", "gateway": "gw-0001"}, "gateway target"),
])
def test_bad_faults_are_reported_precisely(fault: dict[str, Any], message: str,
                                           tmp_path: Path) -> None:
    from heatwatch.settings import ConfigError
    from simulators.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(orjson.dumps({"faults": [fault]}).decode())
    with pytest.raises(ConfigError, match=message) as err:
        load_scenario(path)
    assert "faults.0" in str(err.value)


def test_unknown_station_in_a_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown station 'st-09999'"):
        Simulation(settings(faults=[{"kind": "leak", "station": "st-09999"}]))


@pytest.mark.parametrize(("per_gateway", "expected"), [
    (1, {"st-00001": "last_will", "st-00002": None, "st-00003": "last_will",
         "st-00004": "last_will"}),
    (2, {"st-00001": "gateway", "st-00002": None, "st-00003": "last_will",
         "st-00004": "silence"}),
])
def test_ground_truth_says_how_a_power_loss_shows(
    per_gateway: int, expected: dict[str, str | None], tmp_path: Path
) -> None:
    faults = [
        {"kind": "power_loss", "station": "st-00001", "start": "10m", "duration": "10m"},
        {"kind": "power_loss", "station": "st-00002", "start": "10m", "duration": "10m",
         "backup_power": True},
        {"kind": "power_loss", "gateway": "gw-0002" if per_gateway == 2 else "gw-0003",
         "start": "30m", "duration": "10m"},
    ]
    if per_gateway == 1:
        faults.append({"kind": "power_loss", "station": "st-00004", "start": "30m",
                       "duration": "10m"})
    _, msgs = _run(faults, tmp_path, duration="1h", fleet={"stations_per_gateway": per_gateway})
    rows = [orjson.loads(x) for x in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    assert {r["station"]: r["details"]["offline_via"] for r in rows} == expected
    wills = [m.topic for m in msgs if m.payload == b"offline" and m.delay == 0.0]
    assert "heat/st-00003/status" in wills
