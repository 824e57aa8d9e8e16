"""A run that starts inside the night-setback window starts from the daily-mean steady state.

Flats have time constants of a day or more, so at any instant they sit near the daily mean;
settling them at the setback supply (as if the setback lasted for ever) left several % of flats
under 18 °C at a midnight start and made zone_cold fire in bench/detection.py's normal suite.
"""

from __future__ import annotations

import numpy as np

from simulators.fleet import SimFleet
from simulators.scenario import SimulatorSettings


def _fleet(start: str, setback: bool) -> SimFleet:
    control = {"night_setback": {"start_hour": 23, "end_hour": 5, "delta": 3}} if setback else {}
    cfg = SimulatorSettings.model_validate({
        "seed": 3, "fleet": {"stations": 30, "flats_per_station": [12, 40]},
        "time": {"start": start, "duration": 3600}, "control": control,
    })
    return SimFleet(cfg)


def test_start_inside_setback_is_not_colder_than_outside() -> None:
    midnight = _fleet("2026-01-05T00:00:00+08:00", setback=True)
    plain = _fleet("2026-01-05T00:00:00+08:00", setback=False)
    diff = float(np.mean(plain.flats.indoor - midnight.flats.indoor))
    # daily-mean supply is 3 K x 6/24 h lower: flats a few tenths colder, not over a kelvin
    assert 0.0 < diff < 0.6
    assert float(midnight.flats.indoor.min()) > 17.5
