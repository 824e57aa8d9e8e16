"""The InfluxQL builders and the zone summary, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.queries import (
    AGGREGATES,
    HISTORY_FIELDS,
    Flat,
    distribution,
    history_query,
    parse_resolution,
)


@given(st.text(max_size=12))
def test_resolution_is_a_bounded_whole_number_of_seconds_or_refused(text: str) -> None:
    try:
        seconds = parse_resolution(text)
    except ValueError as exc:
        assert "resolution must" in str(exc)
    else:
        assert 1 <= seconds <= 7 * 86400
        assert text[-1] in "smhd"


def test_history_query_only_from_whitelists() -> None:
    q = history_query("supply_temp", "mean", 60)
    assert q == ('SELECT mean("supply_temp") FROM "telemetry" WHERE "station" = $station'
                 " AND time >= $start AND time < $end GROUP BY time(60s) fill(none)")
    with pytest.raises(ValueError, match="whitelisted"):
        history_query('supply_temp") FROM x; --', "mean", 60)
    with pytest.raises(ValueError, match="whitelisted"):
        history_query("supply_temp", "sum", 60)
    assert "pump_running" not in HISTORY_FIELDS and "power_ok" not in HISTORY_FIELDS
    assert set(AGGREGATES) == {"mean", "min", "max", "last"}


flats = st.lists(
    st.builds(Flat, st.sampled_from(["a", "b", "c"]), st.text("xyz", min_size=1, max_size=3),
              st.floats(-30, 60, allow_nan=False), st.just(0)),
    max_size=40,
)


@given(flats, st.floats(0, 30), st.integers(0, 10))
def test_distribution_summary(items: list[Flat], below_c: float, coldest: int) -> None:
    d = distribution(items, below_c, coldest)
    assert d.flats == len(items)
    assert d.below == sum(f.temp < below_c for f in items)
    if not items:
        assert d.share_below is None and d.median is None and d.coldest == []
        return
    assert d.share_below == d.below / len(items)
    assert d.min is not None and d.max is not None and d.median is not None
    assert d.min <= d.median <= d.max
    assert len(d.coldest) == min(coldest, len(items))
    temps = [f.temp for f in d.coldest]
    assert temps == sorted(temps) and all(t <= d.max for t in temps)
    if d.coldest:
        assert d.coldest[0].temp == d.min


def test_hourly_history_reads_the_column_of_the_aggregate() -> None:
    q = history_query("supply_temp", "max", 86400, "hourly")
    assert q.startswith('SELECT max("supply_temp_max") FROM "hourly"."telemetry" WHERE')
    assert 'mean("flow") FROM "hourly"' in history_query("flow", "mean", 3600, "hourly")
    with pytest.raises(ValueError):
        history_query("supply_temp", "mean", 600, "hourly")  # hourly data has no 10 minutes
    with pytest.raises(ValueError):
        history_query("supply_temp", "mean", 3600, 'x"; DROP')
