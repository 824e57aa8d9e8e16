"""Same seed and scenario -> identical readings; another seed -> different ones."""

from __future__ import annotations

from sim_helpers import settings

from simulators.publisher import MemorySink
from simulators.runner import Simulation

FAULTS = [
    {"kind": "sensor_spikes", "station": "st-00002", "field": "supply_temp", "start": "5m",
     "duration": "20m", "rate": 0.3},
    {"kind": "duplicates", "station": "st-00003", "start": "5m", "duration": "20m", "rate": 0.3},
    {"kind": "out_of_order", "station": "st-00004", "start": "5m", "duration": "20m"},
]


def _run(seed: int) -> list[tuple[str, bytes]]:
    sim = Simulation(settings(outdoor=None, duration="30m", faults=FAULTS, seed=seed))
    sink = MemorySink(sim.fleet.layout)
    sim.run(sink)
    return [(m.topic, m.payload) for m in sink.messages]


def test_same_seed_same_readings() -> None:
    a, b = _run(11), _run(11)
    assert len(a) > 1000
    assert a == b


def test_other_seed_other_readings() -> None:
    a, b = _run(11), _run(12)
    assert a != b
