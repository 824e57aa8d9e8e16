"""The compact window structures against the plain ones they replaced (hypothesis): the
history ring of two arrays against a ``deque`` of ``(ts, value)`` pairs, the zone aggregate
(flats per station) against one dict of every flat."""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.window import Ring, StationWindow, ZoneAggregate

# -- the history ring against the deque it replaced ------------------------------------------


def _old_fall_rate(ring: deque[tuple[float, float]], window_s: float, now: float,
                   valid: Any) -> float | None:
    """StationWindow.fall_rate_per_min as it was on a deque of (ts, value) pairs."""
    if not ring or len(ring) < 2:
        return None
    i = bisect.bisect_left(ring, now - window_s, key=lambda s: s[0])
    j = len(ring) - 1
    if valid is not None:
        while i < j and not valid(ring[i][1]):
            i += 1
        while j > i and not valid(ring[j][1]):
            j -= 1
    if i >= j:
        return None
    t0, v0 = ring[i]
    t1, v1 = ring[j]
    if t1 - t0 < window_s / 2:
        return None
    return (v0 - v1) / (t1 - t0) * 60.0


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(st.tuples(st.floats(min_value=-5.0, max_value=30.0),
                               st.one_of(st.floats(min_value=0, max_value=10),
                                         st.sampled_from([327.67, -1.0]))),
                     max_size=60),
    maxlen=st.integers(min_value=4, max_value=20),
    window_s=st.sampled_from([30.0, 120.0, 600.0]),
    later=st.floats(min_value=0.0, max_value=300.0),
    with_valid=st.booleans(),
)
def test_ring_matches_the_deque(samples: list[tuple[float, float]], maxlen: int,
                                window_s: float, later: float, with_valid: bool) -> None:
    ring = Ring(maxlen)
    old: deque[tuple[float, float]] = deque(maxlen=maxlen)
    window = StationWindow("s", "z", history_fields=frozenset({"p"}), history_len=maxlen)
    t = 1000.0
    valid = (lambda v: 0 <= v <= 16) if with_valid else None
    for dt, value in samples:
        t += dt
        ring.add(t, value)
        window.observe(t, {"p": value})
        if not old or t > old[-1][0]:
            old.append((t, value))
        assert ring.samples() == list(old)
        assert len(ring) == len(old)
        assert len(ring.times) <= maxlen + maxlen // 4
        assert ring.top >= max(v for _, v in old)  # the bound the screen's shortcut relies on
        now = t + later
        assert window.fall_rate_per_min("p", window_s, now, valid) == \
            _old_fall_rate(old, window_s, now, valid)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(
        st.sampled_from(["s1", "s2", "s3"]), st.sampled_from(["a", "b", "c"]),
        st.one_of(st.floats(min_value=-5, max_value=45), st.sampled_from([math.nan, 12.0, 18.0])),
        st.sampled_from([None, (18.0, 13.0), (16.0, 13.0), (18.0, 10.0)]),
    ), max_size=60),
)
def test_zone_aggregate_matches_a_dict_of_flats(
    steps: list[tuple[str, str, float, tuple[float, float] | None]],
) -> None:
    agg = ZoneAggregate("z", 18.0, 13.0)
    ref: dict[tuple[str, str], float] = {}
    for station, meter, temp, band in steps:
        if band is not None:
            agg.set_thresholds(*band)
        agg.observe(station, meter, temp)
        ref.pop((station, meter), None)
        if math.isfinite(temp) and 0.0 <= temp <= 40.0:
            ref[(station, meter)] = temp
        assert agg.flats == len(ref)
        assert agg.below_standard == sum(1 for t in ref.values() if t < agg.standard_c)
        assert agg.below_critical == sum(1 for t in ref.values() if t < agg.critical_c)
        assert sorted(agg.values()) == sorted(ref.values())
        if ref:
            ordered = sorted(ref.values())
            n = len(ordered)
            median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
            assert agg.stats() == (ordered[0], median)
    assert all(agg.temps.values())  # no empty per-station dicts left behind
