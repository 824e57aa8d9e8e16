"""Micro-benchmark of the wire decoder: readings per second on one core, JSON parse included.

Not a test (timings depend on the machine); run it before and after touching the hot path:

    .venv/bin/python bench/wire_decode.py [--seconds 2]

Each case decodes the same payload repeatedly with a fixed clock and prints readings/s for
decode alone and for decode plus line protocol (what the collector does per message).
"""

from __future__ import annotations

import argparse
import time

import orjson

from heatwatch.registry import Registry
from heatwatch.wire import Decoder, lines_for

NOW = 1795953600.0


def _telemetry(i: int, full: bool) -> dict[str, object]:
    reading: dict[str, object] = {
        "ts": NOW - 60 + i * 0.01,
        "seq": 1000 + i,
        "supply_temp": 72.4,
        "return_temp": 41.9,
        "pump_running": True,
    }
    if full:
        reading.update(
            primary_supply_temp=95.1, primary_return_temp=48.2, supply_pressure=4.1,
            return_pressure=3.2, primary_supply_pressure=9.8, primary_return_pressure=6.5,
            flow=12.75, primary_flow=7.3, makeup_flow=0.0, tank_level=2.35, pump_freq=42.5,
            heat_power=263.1, heat_energy=1284523.5, outdoor_temp=-7.5, power_ok=True,
            valve_position=37.0,
        )
    return reading


CASES: list[tuple[str, str, bytes, int]] = [
    ("telemetry single, required fields", "heat/S-01/telemetry",
     orjson.dumps(_telemetry(0, False)), 1),
    ("telemetry single, all fields", "heat/S-01/telemetry", orjson.dumps(_telemetry(0, True)), 1),
    ("telemetry array of 100, all fields", "heat/S-01/telemetry",
     orjson.dumps([_telemetry(i, True) for i in range(100)]), 100),
    ("meter single, RFC 3339 ts", "heat/S-01/meter/F-12",
     orjson.dumps({"ts": "2026-11-29T11:59:00.250Z", "indoor_temp": 21.4, "humidity": 38}), 1),
    ("meter array of 50", "heat/S-01/meter/F-12",
     orjson.dumps([{"ts": 1795953000 + i, "indoor_temp": 21.4} for i in range(50)]), 50),
]


def _rate(topic: str, payload: bytes, per_msg: int, seconds: float, with_lines: bool) -> float:
    decoder = Decoder(clock=lambda: NOW)
    registry = Registry()
    readings = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            decoded = decoder.decode(topic, payload)
            if with_lines:
                lines_for(decoded, registry)
        readings += 200 * per_msg
    assert len(decoded.readings) == per_msg, decoded.rejections
    return readings / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    print(f"{'case':40} {'decode/s':>12} {'+lines/s':>12}")
    for name, topic, payload, n in CASES:
        decode_rate = _rate(topic, payload, n, args.seconds, with_lines=False)
        line_rate = _rate(topic, payload, n, args.seconds, with_lines=True)
        print(f"{name:40} {decode_rate:12,.0f} {line_rate:12,.0f}")


if __name__ == "__main__":
    main()
