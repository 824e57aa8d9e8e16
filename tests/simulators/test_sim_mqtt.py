"""End to end: an accelerated scenario through real Mosquitto and the collector into InfluxDB."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from collector.config import load_collector_settings
from collector.service import Collector
from heatwatch.local.servers import InfluxServer, MosquittoServer
from simulators.layout import write_registry
from simulators.publisher import MqttSink
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

pytestmark = pytest.mark.servers
PREFIX = "sime2e"  # the broker is shared by the session: no retained status from other tests


class StatusWatcher:
    """Records every status message (retained or live) of the run."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-status-watch")
        c.on_connect = lambda cl, *a: cl.subscribe(f"{PREFIX}/+/status", qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = self._on_message
        c.connect(broker.host, broker.port)
        c.loop_start()
        self.client = c

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((msg.topic, msg.payload))

    def of(self, station: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.seen if t == f"{PREFIX}/{station}/status"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_accelerated_scenario_through_mosquitto_and_collector_into_influx(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, database: str
) -> None:
    sim_settings = SimulatorSettings.model_validate({
        "seed": 3,
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": PREFIX},
        "time": {"duration": "30m", "speed": 300},  # 6 s wall; start = now - 30 min
        "fleet": {"stations": 8, "stations_per_gateway": 4, "flats_per_station": [5, 15]},
        "reporting": {"max_inflight": 20},  # exercise the bounded in-flight window
        "faults": [{"kind": "power_loss", "gateway": "gw-0002", "start": "10m",
                    "duration": "5m"}],
    })
    sim = Simulation(sim_settings)
    registry = tmp_path / "registry.yaml"
    write_registry(sim.fleet.layout, registry)
    collector = Collector(load_collector_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "client_id": "sim-e2e-collector",
              "prefix": PREFIX},
        influx={"url": influx.url, "database": database, "timeout": 5.0},
        batch={"flush_interval": 0.2},
        registry=str(registry),
        spool={"dir": str(tmp_path / "spool")},
        dead_letter={"file": str(tmp_path / "rejected.jsonl"), "publish": False},
        metrics={"port": 0},
    ))
    collector.start()
    watcher = StatusWatcher(mosquitto)
    try:
        assert collector.source.wait_connected(20)
        assert watcher.ready.wait(10)
        time.sleep(0.3)
        sink = MqttSink(sim.fleet.layout, sim_settings.mqtt, max_inflight=20)
        try:
            stats = sim.run(sink)
        finally:
            sink.close()
        assert stats.station_messages > 1000 and stats.flat_messages > 100
        wait_for(lambda: influx.count("telemetry", "supply_temp", db=database)
                 >= stats.station_messages, 60, "telemetry in InfluxDB")
        wait_for(lambda: influx.count("meter", "indoor_temp", db=database)
                 >= stats.flat_messages, 60, "meter readings in InfluxDB")
        assert influx.count("telemetry", "supply_temp", db=database) == stats.station_messages
        assert influx.count("meter", "indoor_temp", db=database) == stats.flat_messages
        assert influx.count("telemetry", "supply_temp", db=database,
                            where="\"zone\" = 'unassigned'") == 0
        assert collector.stats()["rejected"] == 0
        # the killed gateway's socket fired the real last will for its first station
        wait_for(lambda: watcher.of("st-00005")[-1:] == [b"offline"], 10, "final offline")
        assert watcher.of("st-00005") == [b"online", b"offline", b"online", b"offline"]
        assert watcher.of("st-00006") == [b"online", b"online", b"offline"]
    finally:
        watcher.close()
        collector.stop(timeout=10)


def test_dropped_connection_fires_the_will_and_the_gateway_reannounces(
    own_mosquitto: MosquittoServer,
) -> None:
    import socket

    from sim_helpers import settings

    s = settings(stations=2, fleet={"stations_per_gateway": 2}).model_copy(
        update={"mqtt": SimulatorSettings.model_validate(
            {"mqtt": {"host": own_mosquitto.host, "port": own_mosquitto.port,
                      "prefix": PREFIX, "reconnect_min_delay": 0.2}}).mqtt})
    sim = Simulation(s)
    watcher = StatusWatcher(own_mosquitto)
    assert watcher.ready.wait(10)
    sink = MqttSink(sim.fleet.layout, s.mqtt, max_inflight=5)
    try:
        sink.send([sim.encoder.status(0, True), sim.encoder.status(1, True)])
        assert sink.drain(10)
        gw = sink.gateways[0]
        assert gw.client is not None
        sock = gw.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the network drops; the broker fires the will
        wait_for(lambda: watcher.of("st-00001")[-1:] == [b"offline"], 20, "the will")
        wait_for(lambda: gw.connects == 2, 20, "reconnect")
        _, data = sim.encode(sim.fleet.step())
        sink.send(data)
        wait_for(lambda: watcher.of("st-00001")[-1:] == [b"online"], 10, "re-announced online")
        assert watcher.of("st-00002") == [b"online"]
    finally:
        sink.close()
        watcher.close()
