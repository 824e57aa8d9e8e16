"""A full-speed QoS 1 publisher for the ingestion benchmark, run in its own process.

It keeps at most ``window`` messages unacknowledged (paho overwrites in-flight entries once
message ids wrap past 65,535, eclipse-paho/paho.mqtt.python#377), and builds payloads from a
template so that the publisher's own cost stays small next to what is being measured.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: a fixed base so that reruns overwrite, not add


def reading(station: int, seq: int) -> str:
    return (
        f'{{"ts":{(T0 + seq * 10) * 1000},"seq":{seq},"supply_temp":{48 + (seq % 7) * 0.1:.1f},'
        f'"return_temp":{39 + (seq % 5) * 0.1:.1f},"pump_running":true,'
        f'"supply_pressure":4.2,"return_pressure":3.1,"flow":{100 + station % 50}.5,'
        f'"makeup_flow":0.3,"primary_supply_temp":95.2,"primary_return_temp":52.1,'
        f'"heat_power":{2000 + station % 300},"outdoor_temp":-11.5,"power_ok":true}}'
    )


def publish(host: str, port: int, *, readings: int, per_message: int, stations: int,
            window: int = 5000, client_id: str = "bench-publisher") -> float:
    """Publish ``readings`` readings; return the seconds it took until all were acked."""
    inflight = threading.Semaphore(window)
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    # paho's own in-flight limit rescans every queued message on each PUBACK (measured here:
    # 3,500 msg/s with a window of 5,000 against 22,000 with paho's limit off), so the window is
    # kept by the semaphore and paho's limit is switched off.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.on_publish = lambda c, u, mid, rc, p: inflight.release()
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("publisher could not connect")
    start = time.perf_counter()
    sent = 0
    seq = 0
    while sent < readings:
        for st in range(stations):
            if sent >= readings:
                break
            n = min(per_message, readings - sent)
            if per_message == 1:
                payload = reading(st, seq)
            else:
                payload = "[" + ",".join(reading(st, seq + k) for k in range(n)) + "]"
            inflight.acquire()
            client.publish(f"heat/st{st:05d}/telemetry", payload, qos=1)
            sent += n
        seq += per_message
    for _ in range(window):
        inflight.acquire()
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return elapsed


if __name__ == "__main__":
    import sys

    host, port, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    stations = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    print(f"{publish(host, port, readings=n, per_message=per, stations=stations):.3f}")
