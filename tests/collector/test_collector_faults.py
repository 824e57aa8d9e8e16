"""Zero loss when the broker restarts, when InfluxDB is away for 30 s (spool, back-pressure,
replay), and with two collectors sharing one subscription."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from collector_helpers import Publisher, collector_settings, telemetry
from support import wait_for

from collector.config import CollectorSettings
from collector.service import Collector
from heatwatch.local.servers import InfluxServer, MosquittoServer

RunCollector = Callable[[CollectorSettings], Collector]
MakePublisher = Callable[[MosquittoServer], Publisher]


def publish_arrays(pub: Publisher, station: str, messages: int, size: int = 10) -> int:
    for _ in range(messages):
        pub.station(station, [telemetry(station) for _ in range(size)])
    return messages * size


def sample(c: Collector, name: str) -> float:
    value = c.metrics.registry.get_sample_value(name)
    return value or 0.0


def test_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path,
    persistent_mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    collector = run_collector(collector_settings(tmp_path, persistent_mosquitto, influx, database))
    pub = make_publisher(persistent_mosquitto)
    total = publish_arrays(pub, "br-1", 150)
    total += sum(pub.station("br-2", telemetry("br-2")) or 1 for _ in range(300))
    persistent_mosquitto.stop()  # graceful: Mosquitto saves sessions and queued messages
    total += publish_arrays(pub, "br-1", 100)  # queued in the publisher while the broker is down
    time.sleep(1.5)
    persistent_mosquitto.start()
    total += publish_arrays(pub, "br-3", 100)
    pub.wait_all(60)
    wait_for(lambda: influx.count("telemetry", "supply_temp", db=database) >= total, 90,
             f"{total} readings stored")
    time.sleep(1)  # anything extra would be a bug in the counting, not a duplicate point
    assert influx.count("telemetry", "supply_temp", db=database) == total
    assert sample(collector, "heatwatch_collector_mqtt_connects_total") >= 2, "reconnected"
    assert sample(collector, "heatwatch_collector_mqtt_disconnects_total") >= 1


def test_starts_while_the_broker_is_down_and_connects_when_it_comes(
    tmp_path: Path,
    persistent_mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
) -> None:
    persistent_mosquitto.stop()
    collector = Collector(collector_settings(tmp_path, persistent_mosquitto, influx, database))
    collector.start()
    try:
        time.sleep(1.5)  # several failed connection attempts
        assert not collector.source.connected
        persistent_mosquitto.start()
        assert collector.source.wait_connected(20), "never stops trying to connect"
    finally:
        collector.stop()


def test_resubscribes_when_a_killed_broker_forgot_the_session(
    tmp_path: Path,
    persistent_mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    """SIGKILLed before its autosave, the broker comes back without our session or subscription
    (session_present false): the collector must subscribe again on its own (telegraf#16038)."""
    collector = run_collector(collector_settings(tmp_path, persistent_mosquitto, influx, database))
    persistent_mosquitto.kill()
    persistent_mosquitto.start()
    wait_for(lambda: sample(collector, "heatwatch_collector_mqtt_connects_total") >= 2, 30,
             "collector reconnected")
    assert collector.source.session_present is False
    time.sleep(0.5)  # SUBACK
    pub = make_publisher(persistent_mosquitto)
    total = publish_arrays(pub, "rs-1", 50)
    pub.wait_all()
    wait_for(lambda: influx.count("telemetry", "supply_temp", db=database) >= total, 30,
             f"{total} readings stored after resubscribing")
    assert influx.count("telemetry", "supply_temp", db=database) == total


def test_influx_down_30s_spools_applies_back_pressure_and_replays(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    own_influx: InfluxServer,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    db = "faults"
    settings = collector_settings(
        tmp_path, mosquitto, own_influx, db,
        batch={"receive_maximum": 200},
        spool={"max_bytes": 256 * 1024, "segment_bytes": 32 * 1024},
    )
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)
    total = publish_arrays(pub, "db-1", 100)
    pub.wait_all()
    wait_for(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 30,
             "first readings stored")

    own_influx.stop()
    down_until = time.monotonic() + 30
    while time.monotonic() < down_until:  # about 6000 readings: more than the spool holds
        total += publish_arrays(pub, "db-2", 2)
        time.sleep(0.1)
    stats = collector.stats()
    assert stats["spooled"] > 0
    assert stats["spool_full"], "a 256 KiB spool must have filled: back-pressure"
    assert stats["acked"] < stats["messages"] or stats["queue_depth"] > 0
    assert sample(collector, "heatwatch_collector_spool_alarms_total") >= 1
    own_influx.start()
    total += publish_arrays(pub, "db-3", 100)
    pub.wait_all()
    wait_for(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 90,
             f"{total} readings stored after InfluxDB returned")
    wait_for(lambda: collector.stats()["spool_pending_bytes"] == 0, 30, "spool drained")
    assert own_influx.count("telemetry", "supply_temp", db=db) == total
    stats = collector.stats()
    assert stats["replayed"] >= stats["spooled"] > 0
    assert not stats["spool_full"]


def test_shared_subscription_splits_load_and_stores_each_reading_once(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    group = "collectors"
    a = run_collector(collector_settings(tmp_path, mosquitto, influx, database, name="a",
                                         shared_group=group))
    b = run_collector(collector_settings(tmp_path, mosquitto, influx, database, name="b",
                                         shared_group=group))
    pub = make_publisher(mosquitto)
    for i in range(600):
        pub.station(f"sh-{i % 3}", telemetry(f"sh-{i % 3}"))
    pub.wait_all()
    wait_for(lambda: a.stats()["stored"] + b.stats()["stored"] >= 600, 30, "600 stored")
    assert influx.count("telemetry", "supply_temp", db=database) == 600
    assert a.stats()["messages"] + b.stats()["messages"] == 600, "each message to one collector"
    assert a.stats()["messages"] > 0 and b.stats()["messages"] > 0


def test_turning_shared_group_on_drops_the_old_plain_subscription(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database: str,
    run_collector: RunCollector,
    make_publisher: MakePublisher,
) -> None:
    """Same client id, persistent session: the plain subscription of the first run must not
    survive into the shared run, or every message would arrive twice."""
    plain = run_collector(collector_settings(tmp_path, mosquitto, influx, database, name="x"))
    plain.stop()
    shared = run_collector(collector_settings(tmp_path, mosquitto, influx, database, name="x",
                                              shared_group="g1"))
    assert shared.source.session_present
    pub = make_publisher(mosquitto)
    for _ in range(100):
        pub.station("sg-1", telemetry("sg-1"))
    pub.wait_all()
    wait_for(lambda: shared.stats()["stored"] >= 100, 20, "100 stored")
    time.sleep(1)
    assert shared.stats()["messages"] == 100
