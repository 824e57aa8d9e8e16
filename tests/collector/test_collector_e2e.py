"""End to end against the real Mosquitto and InfluxDB 1.6: every good reading stored exactly
once, every bad one counted, dead-lettered to the file and to {prefix}/_rejected."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from collector_helpers import Publisher, collector_settings, telemetry
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from collector.config import CollectorSettings
from collector.service import Collector
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

RunCollector = Callable[[CollectorSettings], Collector]
MakePublisher = Callable[[MosquittoServer], Publisher]


class RejectedListener:
    def __init__(self, server: MosquittoServer, topic: str) -> None:
        self.payloads: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = self._on_message
        c.connect(server.host, server.port)
        c.loop_start()
        self.client = c

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append(json.loads(msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_single_and_array_payloads_all_stored_bad_ones_dead_lettered(
    protocol: str,
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    listener = RejectedListener(mosquitto, "heat/_rejected")
    assert listener.ready.wait(10)
    settings = collector_settings(tmp_path, mosquitto, influx, database, metrics_port=free_port(),
                                  protocol=protocol)
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)

    good = 0
    for i in range(300):  # single-reading messages
        pub.station(f"e2e-{i % 5}", telemetry(f"e2e-{i % 5}"))
        good += 1
    bad_reasons = []
    for _ in range(40):  # arrays of 25 with two bad readings each
        docs = [telemetry("e2e-arr") for _ in range(23)]
        docs.insert(5, telemetry("e2e-arr", supply_temp="hot"))
        docs.insert(17, telemetry("e2e-arr", return_temp=900.0))
        pub.station("e2e-arr", docs)
        good += 23
        bad_reasons += ["wrong_type", "out_of_range"]
    pub.publish("heat/e2e-x/telemetry", b"{not json")
    bad_reasons.append("invalid_json")
    pub.wait_all()

    wait_for(lambda: influx.count("telemetry", "supply_temp", db=database) >= good, 60,
             f"{good} readings in InfluxDB")
    wait_for(lambda: collector.stats()["dead_lettered"] >= len(bad_reasons), 30,
             "dead letters written")
    assert influx.count("telemetry", "supply_temp", db=database) == good
    stats = collector.stats()
    assert stats["messages"] == 341
    assert stats["readings"] == good
    assert stats["stored"] == good
    assert stats["rejected"] == len(bad_reasons)
    assert stats["spooled"] == 0

    lines = Path(settings.dead_letter.file or "").read_text().splitlines()
    reasons = sorted(json.loads(line)["reason"] for line in lines)
    assert reasons == sorted(bad_reasons)
    wait_for(lambda: len(listener.payloads) >= len(bad_reasons), 20, "rejections on MQTT")
    assert sorted(str(p["reason"]) for p in listener.payloads) == sorted(bad_reasons)
    listener.close()

    # Unregistered stations are stored under zone "unassigned" and reported.
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="\"zone\" = 'unassigned'") == good
    assert "e2e-arr" in stats["unregistered_stations"]

    body = httpx.get(f"http://127.0.0.1:{collector.metrics_port}/metrics").text
    assert 'heatwatch_collector_readings_rejected_total{reason="wrong_type"} 40.0' in body
    assert f"heatwatch_collector_readings_stored_total {float(good)}" in body
    assert "heatwatch_collector_write_seconds_count" in body


def test_seq_gaps_duplicates_and_late_are_totals_and_the_log_names_the_stations(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = collector_settings(tmp_path, mosquitto, influx, database, metrics_port=free_port())
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)
    dup = telemetry("seq-a", seq=4)
    pub.station("seq-a", [telemetry("seq-a", seq=s) for s in (1, 2, 3)] + [dup])
    pub.station("seq-a", [dup, telemetry("seq-a", seq=7)])  # dup once, gap of 2 (5, 6)
    late = telemetry("seq-b", seq=13)  # stamped before 15: a late arrival, not a reboot
    pub.station("seq-b", [telemetry("seq-b", seq=s) for s in (10, 11, 15)])  # gap of 3
    pub.station("seq-b", [late])  # fills part of that gap
    pub.publish("heat/seq-b/meter/m1", json.dumps(
        [{"ts": telemetry("x")["ts"], "indoor_temp": 21.0, "seq": s} for s in (1, 2)]).encode())
    pub.wait_all()
    wait_for(lambda: collector.stats()["readings"] >= 12, 30, "12 readings decoded")
    stats = collector.stats()
    assert (stats["seq_gaps"], stats["seq_duplicates"]) == (5, 1)
    body = httpx.get(f"http://127.0.0.1:{collector.metrics_port}/metrics").text
    # Totals, no per-station series (one per station and kind would be 60,000 in a city).
    assert "heatwatch_collector_seq_gaps_total 5.0" in body
    assert "heatwatch_collector_seq_duplicates_total 1.0" in body
    assert "heatwatch_collector_seq_late_total 1.0" in body
    assert "heatwatch_collector_seq_gap_alarms_total 2.0" in body
    assert 'station="' not in body
    # The stations are named in the log summary instead.
    caplog.set_level(logging.INFO, "collector")
    assert collector.summary.maybe_log(force=True)
    [line] = [r.getMessage() for r in caplog.records if "seq gaps" in r.getMessage()]
    assert "seq gaps 5 [seq-b=3, seq-a=2]" in line
    assert "seq duplicates 1 [seq-a=1]" in line
    assert "seq late 1 [seq-b=1]" in line


def test_registered_stations_get_their_zone(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    registry = tmp_path / "stations.yaml"
    registry.write_text("stations:\n  - id: zone-a\n    zone: north\n")
    base = collector_settings(tmp_path, mosquitto, influx, database)
    collector = run_collector(base.model_copy(update={"registry": registry}))
    pub = make_publisher(mosquitto)
    pub.station("zone-a", [telemetry("zone-a") for _ in range(7)])
    pub.station("zone-b", [telemetry("zone-b") for _ in range(3)])
    pub.wait_all()
    wait_for(lambda: collector.stats()["stored"] >= 10, 30, "10 stored")
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="\"zone\" = 'north'") == 7
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="\"zone\" = 'unassigned'") == 3
    assert collector.stats()["unregistered_stations"] == ["zone-b"]


def test_own_counters_are_stored_for_grafana(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
) -> None:
    """The pipeline-health dashboard reads heatwatch_internal: the collector writes its
    Prometheus counters there, the final snapshot included; they are not counted as readings."""
    settings = collector_settings(tmp_path, mosquitto, influx, database, selfstats_interval=0.5)
    collector = run_collector(settings)
    pub = Publisher(mosquitto)
    pub.station("self-1", [telemetry("self-1", seq=i) for i in range(5)])
    pub.wait_all()
    pub.close()
    wait_for(lambda: influx.count("telemetry", "supply_temp", db=database) == 5, 20, "stored")
    # The counter moves just after the write returns: wait for it, then stop (final snapshot).
    wait_for(lambda: collector.stats()["stored"] == 5, 20, "counted")
    collector.stop(timeout=60)
    series = influx.query(
        "SELECT last(heatwatch_collector_readings_stored_total) FROM heatwatch_internal "
        "WHERE service = 'collector'",
        db=database,
    )
    assert series, "no self-stats stored"
    assert series[0]["values"][0][1] == 5.0


def test_v1_database_is_created_at_start(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, run_collector: RunCollector
) -> None:
    name = "created_at_start"

    def exists() -> bool:
        values = influx.query("SHOW DATABASES")[0]["values"]
        assert isinstance(values, list)
        return [name] in values

    assert not exists()
    run_collector(collector_settings(tmp_path, mosquitto, influx, name))  # nothing published
    wait_for(exists, 10, f"database {name} created")
