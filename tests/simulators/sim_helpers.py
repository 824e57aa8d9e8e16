"""Small fleets with steady weather for the simulator tests (fast and easy to reason about)."""

from __future__ import annotations

from typing import Any

from simulators.fleet import SimFleet
from simulators.scenario import SimulatorSettings

START = "2026-01-12T00:00:00+08:00"


def settings(
    *, stations: int = 6, outdoor: float | None = -15.0, faults: list[dict[str, Any]] | None = None,
    duration: str = "2h", **blocks: Any,
) -> SimulatorSettings:
    """Steady outdoor temperature unless ``outdoor`` is None (then the default climate)."""
    weather: dict[str, Any] = {}
    if outdoor is not None:
        weather = {"mean_temp": outdoor, "daily_amplitude": 0.0, "anomaly_std": 0.0,
                   "cold_wave_rate_per_day": 0.0}
    fleet = {"stations": stations, "flats_per_station": [30, 90], **blocks.pop("fleet", {})}
    return SimulatorSettings.model_validate({
        "seed": blocks.pop("seed", 7),
        "time": {"start": START, "duration": duration, **blocks.pop("time", {})},
        "weather": {**weather, **blocks.pop("weather", {})},
        "fleet": fleet,
        "faults": faults or [],
        **blocks,
    })


def run_hours(fleet: SimFleet, hours: float) -> None:
    for _ in range(round(hours * 3600 / fleet.dt)):
        fleet.step()
