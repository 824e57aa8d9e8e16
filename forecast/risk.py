"""What one forecast cycle predicts, per flat and per zone: the input of ``cold_predicted``,
of ``GET /api/v1/forecast`` and of the ``indoor_forecast`` measurement.

Plain records (no numpy, no alert code), so the rule module can import them without pulling
the predictor in (:mod:`forecast.summary` builds them from a :class:`forecast.predict.Prediction`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlatRisk", "ZoneRisk"]


@dataclass(frozen=True, slots=True)
class FlatRisk:
    """One flat's prediction at one cycle.

    ``below_at``: the first time it is predicted under ``standard_c`` for at least the rule's
    ``min_duration_s`` (or to the end of the horizon); None when it is not. ``p_below``: how
    sure, from the fit's error at that lead (normal spread around the prediction).
    ``now_c``: its temperature now (what the prediction started from); ``action``: the
    smallest change to its station's plan that keeps it warm (None: none found or not asked).
    """

    zone: str
    station: str
    meter: str
    issued_at: float
    now_c: float
    below_at: float | None
    min_c: float
    min_at: float
    p_below: float
    standard_c: float
    sigma_c: float  # the fit's error at the lead of the coldest point
    action: str | None = None
    action_zh: str | None = None

    @property
    def key(self) -> str:
        return f"{self.station}/{self.meter}"

    @property
    def cold_now(self) -> bool:
        """Already under the standard: the cold has arrived (``flat_cold`` judges it now)."""
        return self.now_c < self.standard_c


@dataclass(frozen=True, slots=True)
class ZoneRisk:
    """A zone's flats at one cycle, as ``zone_cold`` would count them at each future step.

    ``share_peak``: the largest share of its predicted flats under the standard at any step of
    the horizon, at ``peak_at``; ``first_at``: the first step whose share reaches the rule's
    ``share`` (None: none); ``share_now``: the share under it now. ``morning_share``: the
    share predicted under it at the next 07:00 local within the horizon (the operator page's
    "tomorrow morning"; None when 07:00 is beyond the horizon).
    """

    zone: str
    issued_at: float
    flats: int
    share_now: float
    share_peak: float
    peak_at: float
    first_at: float | None
    cold_flats_peak: int
    min_c: float
    median_c_peak: float
    p_mean: float  # mean p_below of the flats counted at the peak
    standard_c: float
    morning_share: float | None
    actions: tuple[str, ...] = ()  # one per station with cold flats (smallest change)
    actions_zh: tuple[str, ...] = ()
