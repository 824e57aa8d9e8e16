"""Flat-level faults (issue 16) and the hotline complaint stream, with their ground truth."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError
from sim_helpers import settings

from simulators.fleet import SimFleet
from simulators.households import ComplaintStream, room_truth, sensor_truth

STEP = {"reporting": {"station_interval_s": 60, "flat_interval_s": 300}}


def _fleet(faults: list[dict[str, Any]], duration: str = "2d",
           truth: Path | None = None) -> SimFleet:
    s = settings(faults=faults, duration=duration, outdoor=-10.0, **STEP)
    return SimFleet(s, ground_truth=truth)


def _flats() -> tuple[str, str, str, str]:
    """A middle flat and a top-floor flat of station 1 (the layout is the seed's)."""
    lay = _fleet([]).layout
    flats = lay.flats_of(0)
    middle = next(j for j in flats.tolist() if not lay.flat_top[j] and not lay.flat_gable[j])
    top = next(j for j in flats.tolist() if lay.flat_top[j])
    return lay.station_ids[0], lay.flat_ids[middle], lay.flat_ids[top], lay.flat_ids[flats[-2]]


def test_a_blocked_radiator_cools_one_flat_to_14_16_and_leaves_the_others(tmp_path: Path) -> None:
    station, middle, top, _ = _flats()
    truth = tmp_path / "truth.jsonl"
    fleet = _fleet([
        {"kind": "radiator_blocked", "station": station, "meter": middle, "start": "1h",
         "duration": "3d"},
        {"kind": "flat_under_supply", "station": station, "meter": top, "start": "1h",
         "duration": "3d"},
    ], duration="2d", truth=truth)
    lay = fleet.layout
    j, k = lay.flat_ids.index(middle), lay.flat_ids.index(top)
    before = fleet.flats.indoor.copy()
    for _ in range(2 * 1440):
        fleet.step()
    after = fleet.flats.indoor
    assert 14.0 <= after[j] <= 16.5 < before[j] - 4
    assert after[k] < 18.0 < before[k]
    others = np.delete(np.arange(lay.n_flats), [j, k])
    assert np.abs(after[others] - before[others]).max() < 1.5  # the rest heat as before
    rows = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    kinds = {r["kind"]: r for r in rows}
    assert kinds["radiator_blocked"]["meters"] == [middle]
    assert kinds["flat_under_supply"]["details"]["top_floor"] is True
    assert kinds["radiator_blocked"]["details"]["size"] == 0.1


def test_an_open_window_dips_the_air_not_the_room() -> None:
    station, middle, _, _ = _flats()
    fleet = _fleet([{"kind": "window_open", "station": station, "meter": middle,
                     "start": "30m", "duration": "10m"}], duration="3h")
    j = fleet.layout.flat_ids.index(middle)
    seen: list[tuple[float, float, float]] = []  # (minutes, air the sensor sees, room)
    for _ in range(180):
        frame = fleet.step()
        assert fleet.active is not None
        air = sensor_truth(fleet, fleet.active)[j]
        seen.append(((frame.t - fleet.start) / 60, float(air), float(room_truth(fleet)[j])))
    at = {round(m): (a, r) for m, a, r in seen}
    assert at[20][0] == pytest.approx(at[20][1])  # before: no dip
    assert at[39][1] - at[39][0] > 5.0  # open: about 6 K under the room
    assert at[60][1] - at[60][0] < 2.0  # shut 20 min ago: mostly warmed back
    assert at[150][1] - at[150][0] < 0.05
    assert abs(at[150][1] - at[20][1]) < 0.3  # the room itself barely moved


def test_flat_faults_need_their_flat() -> None:
    station, _, _, _ = _flats()
    with pytest.raises(ValidationError, match="needs station and meter"):
        settings(faults=[{"kind": "radiator_blocked", "station": station}])
    with pytest.raises(ValueError, match="unknown meter"):
        _fleet([{"kind": "window_open", "station": station, "meter": "nope"}])
    other = _fleet([]).layout.flat_ids[-1]
    with pytest.raises(ValueError, match="is not a flat of"):
        _fleet([{"kind": "window_open", "station": station, "meter": other}])


def test_complaints_come_from_cold_flats_and_a_few_warm_ones_with_their_truth() -> None:
    station, middle, _, _ = _flats()
    fleet = _fleet([{"kind": "radiator_blocked", "station": station, "meter": middle,
                     "start": "0s", "duration": "4d"}], duration="3d")
    stream = ComplaintStream(fleet, cold_per_h=0.5, warm_per_day=0.05, address_only=0.2)
    calls = []
    for _ in range(3 * 1440):
        frame = fleet.step()
        assert fleet.active is not None
        calls += stream.step(frame.t, 60.0, fleet.active)
    cold = [c for c in calls if c.truth == "cold"]
    warm = [c for c in calls if c.truth == "warm"]
    assert cold and all(c.meter == middle and c.room_c < 17.0 for c in cold)
    assert warm and all(c.room_c >= 19.0 for c in warm)
    assert any(c.truth == "no_sensor" and c.meter is None for c in calls)
    by_flat: dict[str | None, list[float]] = {}
    for c in calls:
        if c.meter is not None:
            by_flat.setdefault(c.meter, []).append(c.ts)
    assert all(b - a >= 86400 - 60 for ts in by_flat.values() for a, b in pairwise(ts))
    assert {c.channel for c in calls} <= {"12345", "phone", "app"}
    assert not any(c.station_short for c in calls)
