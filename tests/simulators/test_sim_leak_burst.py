"""A burst (``ramp: 0``): the leak is there at once and the pressure-controlled make-up pump
answers within a minute or two, unlike the default crack that opens over half an hour."""

from __future__ import annotations

import pytest
from sim_helpers import run_hours, settings

from simulators.fleet import SimFleet
from simulators.scenario import SimulatorSettings


def test_burst_leak_shows_in_make_up_within_two_minutes() -> None:
    faults = [
        {"kind": "leak", "station": "st-00002", "start": "30m", "duration": "2h", "size": 0.04,
         "ramp": 0},
        {"kind": "leak", "station": "st-00004", "start": "30m", "duration": "2h", "size": 0.04},
    ]
    f = SimFleet(settings(faults=faults))
    st = f.stations
    run_hours(f, 0.5)
    assert st.makeup[1] / st.flow[1] < 0.01
    run_hours(f, 2 / 60)
    assert st.makeup[1] / st.flow[1] > 0.02, "the make-up pump answers a burst within 2 min"
    assert st.makeup[3] / st.flow[3] < 0.01, "a ramped leak is still small after 2 min"


def test_ramp_is_for_leaks_only() -> None:
    with pytest.raises(ValueError, match="ramp only applies to leak"):
        SimulatorSettings.model_validate(
            {"faults": [{"kind": "pump_trip", "station": "st-00001", "ramp": "1m"}]})
