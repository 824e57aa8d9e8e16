"""Issue #13 item 2: an extra field that changes type loses only that field, never the reading.

On the real InfluxDB 1.6: another station wrote ``valve`` as a boolean; then 5,000 readings
arrive of which 50 carry ``valve`` as a number. Before the fix InfluxDB refused those 50
readings whole (supply and return temperatures included) and finding them by bisection cost
497 HTTP writes. Now the collector learns the stored types at start (``SHOW FIELD KEYS``), the
decoder drops the conflicting field, every reading is stored, each dropped field is
dead-lettered as ``field_type_conflict`` and the batch costs no failed write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from collector_helpers import Publisher, collector_settings, telemetry
from support import wait_for

from collector.config import CollectorSettings
from collector.service import Collector
from heatwatch.local.servers import InfluxServer, MosquittoServer


@pytest.fixture
def started() -> Iterator[list[Collector]]:
    made: list[Collector] = []
    yield made
    for c in made:
        c.stop(timeout=10)


def start_counting(
    settings: CollectorSettings, made: list[Collector]
) -> tuple[Collector, list[int]]:
    """A collector whose writer counts its HTTP writes (a pass-through wrapper)."""
    collector = Collector(settings)
    calls = [0]
    write = collector.writer.write

    def counted(lines: list[str]) -> None:
        calls[0] += 1
        write(lines)

    collector.writer.write = counted  # type: ignore[method-assign]
    collector.start()
    made.append(collector)
    assert collector.source.wait_connected(20)
    time.sleep(0.3)
    return collector, calls


def other_writer(influx: InfluxServer, database: str, point: str) -> None:
    """Another writer's point, an hour ago like the test readings: InfluxDB keeps field
    types per shard, so it must land in theirs."""
    line = f"{point} {time.time_ns() - 3_600_000_000_000}"
    resp = httpx.post(f"{influx.url}/write", params={"db": database}, content=line)
    assert resp.status_code == 204, resp.text


def dead(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_5000_readings_with_50_conflicting_fields_all_stored_in_few_writes(
    tmp_path: Path, influx: InfluxServer, database: str, mosquitto: MosquittoServer,
    make_publisher: Callable[[MosquittoServer], Publisher], started: list[Collector],
) -> None:
    other_writer(influx, database, "telemetry,station=other valve=true")
    settings = collector_settings(tmp_path, mosquitto, influx, database,
                                  batch={"flush_interval": 0.5})
    collector, writes = start_counting(settings, started)
    assert collector.field_types[("telemetry", "valve")] == "boolean", "learned at start"
    assert collector.decoder.max_past_s == 30 * 86400  # items 5 and 6 reach the decoder
    assert collector.decoder.max_extra_fields == 50 and collector.decoder.max_extra_names == 100
    pub = make_publisher(mosquitto)
    for m in range(100):
        docs = [telemetry("ft") for _ in range(50)]
        if m % 2 == 0:
            docs[m % 50]["valve"] = 2.5
        pub.station("ft", docs)
    pub.wait_all()
    wait_for(lambda: collector.stats()["acked"] >= 100, 30, "every message acked")
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="station = 'ft'") == 5000
    entries = dead(tmp_path / "rejected-c.jsonl")
    assert len(entries) == 50
    assert {e["reason"] for e in entries} == {"field_type_conflict"}
    assert collector.stats()["field_conflicts"] == 50
    print(f"\n5,000 readings, 50 conflicting: {writes[0]} HTTP writes (497 before the fix)")
    assert writes[0] <= 12, f"{writes[0]} HTTP writes: conflicts cost failed writes again"


def test_conflict_the_table_did_not_know_keeps_the_reading(
    tmp_path: Path, influx: InfluxServer, database: str, mosquitto: MosquittoServer,
    make_publisher: Callable[[MosquittoServer], Publisher], started: list[Collector],
) -> None:
    """Another writer fixes the type after the collector started: InfluxDB 1.6 refuses the
    line naming the field; the collector strips it and stores the rest of the reading."""
    settings = collector_settings(tmp_path, mosquitto, influx, database)
    collector, _ = start_counting(settings, started)
    # Field types are per shard: the other point lands in this week's shard, like ours.
    other_writer(influx, database, "telemetry,station=other damper=true")
    pub = make_publisher(mosquitto)
    pub.station("late", [telemetry("late", damper=0.5), telemetry("late")])
    pub.wait_all()
    wait_for(lambda: collector.stats()["acked"] >= 1, 20, "message acked")
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="station = 'late'") == 2
    [entry] = dead(tmp_path / "rejected-c.jsonl")
    assert entry["reason"] == "field_type_conflict" and entry["field"] == "damper"
    assert collector.field_types[("telemetry", "damper")] == "boolean"
