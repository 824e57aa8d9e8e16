"""Shared helpers for the collector tests: a QoS 1 publisher that survives broker restarts, payload
builders with unique timestamps, a settings builder and a polling wait."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support import wait_for

from collector.config import CollectorSettings, load_collector_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer

_ids = itertools.count()
# Distinct, recent millisecond timestamps for every reading of the session: one series
# (station) + timestamp is one point in InfluxDB, so counts equal readings.
_ts = itertools.count(int(time.time() * 1000) - 3_600_000)


def telemetry(station: str, seq: int | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ts": next(_ts), "supply_temp": 70.5, "return_temp": 40.25, "pump_running": True,
    }
    if seq is not None:
        doc["seq"] = seq
    doc.update(extra)
    return doc


class Publisher:
    """paho QoS 1 publisher with a persistent session: messages published while the broker is
    away stay in paho's queue and are resent on reconnect; ``wait_all`` waits for every PUBACK.
    """

    def __init__(self, server: MosquittoServer, prefix: str = "heat") -> None:
        self.prefix = prefix
        self._acked = 0
        self._sent = 0
        self._lock = threading.Lock()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-pub-{next(_ids)}", protocol=mqtt.MQTTv5
        )
        client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]
        client.max_inflight_messages_set(1000)
        client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect_async(server.host, server.port, clean_start=False, properties=props)
        client.loop_start()
        self.client = client

    def _on_publish(self, *args: Any) -> None:
        with self._lock:
            self._acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)
        self._sent += 1

    def station(self, station: str, docs: list[dict[str, Any]] | dict[str, Any]) -> None:
        self.publish(f"{self.prefix}/{station}/telemetry", orjson.dumps(docs))

    def wait_all(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self._acked >= self._sent, timeout, "broker PUBACK for every publish")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def collector_settings(
    tmp: Path,
    broker: MosquittoServer,
    influx: InfluxServer | None,
    database: str = "heatwatch",
    *,
    name: str = "c",
    batch: dict[str, Any] | None = None,
    shared_group: str | None = None,
    influx_block: dict[str, Any] | None = None,
    spool: dict[str, Any] | None = None,
    metrics_port: int = 0,
    selfstats_interval: float = 0.0,
    protocol: str = "3.1.1",
) -> CollectorSettings:
    influx_cfg = influx_block or {"url": influx.url if influx else "", "database": database}
    return load_collector_settings(
        None,
        mqtt={"host": broker.host, "port": broker.port, "client_id": f"collector-{name}-{tmp.name}",
              "reconnect_min_delay": 0.2, "reconnect_max_delay": 2.0},
        influx={"timeout": 5.0, **influx_cfg},
        batch={"flush_interval": 0.2, **(batch or {})},
        subscription={"shared_group": shared_group, "protocol": protocol},
        spool={"dir": str(tmp / f"spool-{name}"), "retry_min_delay": 0.2,
               "retry_max_delay": 1.0, **(spool or {})},
        dead_letter={"file": str(tmp / f"rejected-{name}.jsonl"), "publish": True},
        metrics={"port": metrics_port, "log_interval": 5.0,
                 "selfstats_interval": selfstats_interval},
    )
