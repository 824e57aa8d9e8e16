"""From one cycle's :class:`~forecast.predict.Prediction` to the per-flat and per-zone records
(:mod:`forecast.risk`) the rule, the API and the dashboards read."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from forecast.predict import Prediction, smallest_change
from forecast.risk import FlatRisk, ZoneRisk

__all__ = ["RiskSettings", "next_local", "summarise"]


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """The ``cold_predicted`` parameters the summary needs (per zone)."""

    min_duration_s: float = 10800.0
    min_probability: float = 0.8
    share: float = 0.10
    max_raise_k: float = 20.0
    raise_step_k: float = 2.0
    timezone: str = "UTC"
    morning_hour: int = 7


def next_local(t: float, hour: int, timezone: str) -> float:
    """The next ``hour``:00 local time after ``t`` (epoch s)."""
    tz = ZoneInfo(timezone)
    local = dt.datetime.fromtimestamp(t, tz)
    target = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= local:
        target = (target + dt.timedelta(days=1)).replace(hour=hour)
    return target.timestamp()


def summarise(pred: Prediction, settings: Callable[[str], RiskSettings],
              when: Callable[[float, str], str] | None = None
              ) -> tuple[list[FlatRisk], list[ZoneRisk]]:
    """Per flat and per zone, what the prediction says (see :mod:`forecast.risk`).

    The smallest change is searched once per station that has a flat predicted cold (with
    enough probability), by re-running that station's flats only; ``when(t, zone)`` formats
    its time for the message (local ``HH:MM`` by default).
    """
    models = pred.models
    plan = pred.plan
    issued = float(plan.times[0])
    ends = pred.ends
    std = plan.standard[pred.station_row]  # (flats, steps)
    below = pred.temps < std
    worst = np.argmin(pred.temps - std, 1)
    lead = ends[worst] - issued
    sigma = np.maximum(models.error_at(lead), 0.05)
    p = pred.p_below()
    coldest = np.argmin(pred.temps, 1)
    flat_out: list[FlatRisk] = []
    zone_out: list[ZoneRisk] = []
    by_zone: dict[str, list[int]] = {}
    for i, z in enumerate(models.zone):
        by_zone.setdefault(z, []).append(i)
    first_cache: dict[float, np.ndarray] = {}
    for zone, members in by_zone.items():
        rs = settings(zone)
        first = first_cache.get(rs.min_duration_s)
        if first is None:
            first = first_cache[rs.min_duration_s] = pred.first_below(rs.min_duration_s)
        idx = np.asarray(members, dtype=np.int64)
        flagged = idx[np.isfinite(first[idx]) & (p[idx] >= rs.min_probability)
                      & np.isfinite(pred.start[idx])]
        def local(t: float, zone: str = zone, tz: str = rs.timezone) -> str:
            return when(t, zone) if when is not None else _hhmm(t, tz)

        flagged_set = {int(i) for i in flagged}
        actions: dict[int, str | None] = {}
        actions_zh: dict[int, str | None] = {}
        for row in sorted({int(pred.station_row[i]) for i in flagged}):
            station_flats = flagged[pred.station_row[flagged] == row]
            change = smallest_change(pred, station_flats, rs.max_raise_k, rs.raise_step_k)
            station = models.station[int(station_flats[0])]
            actions[row] = None if change is None else change.describe(station, local)
            actions_zh[row] = None if change is None else change.describe_zh(station, local)
        for i in idx:
            fb = float(first[i])
            flat_out.append(FlatRisk(
                zone=zone, station=models.station[i], meter=models.meter[i], issued_at=issued,
                now_c=float(pred.start[i]),
                below_at=fb if math.isfinite(fb) and p[i] >= rs.min_probability else None,
                min_c=float(pred.temps[i, coldest[i]]), min_at=float(ends[coldest[i]]),
                p_below=float(p[i]), standard_c=float(std[i, worst[i]]),
                sigma_c=float(sigma[i]),
                action=actions.get(int(pred.station_row[i])) if int(i) in flagged_set else None,
                action_zh=(actions_zh.get(int(pred.station_row[i])) if int(i) in flagged_set
                           else None),
            ))
        known = idx[np.isfinite(pred.start[idx])]
        if known.size == 0:
            continue
        counts = below[known].sum(0)
        shares = counts / known.size
        peak = int(np.argmax(shares))
        reach = np.flatnonzero(shares >= rs.share)
        at_peak = known[below[known, peak]]
        morning_t = next_local(issued, rs.morning_hour, rs.timezone)
        m_step = np.flatnonzero(ends >= morning_t)
        morning = (float(below[known, m_step[0]].mean())
                   if m_step.size and morning_t <= ends[-1] else None)
        zone_out.append(ZoneRisk(
            zone=zone, issued_at=issued, flats=int(known.size),
            share_now=float((pred.start[known] < std[known, 0]).mean()),
            share_peak=float(shares[peak]), peak_at=float(ends[peak]),
            first_at=float(ends[reach[0]]) if reach.size else None,
            cold_flats_peak=int(counts[peak]), min_c=float(pred.temps[known].min()),
            median_c_peak=float(np.median(pred.temps[known, peak])),
            p_mean=float(p[at_peak].mean()) if at_peak.size else 0.0,
            standard_c=float(std[known[0], peak]), morning_share=morning,
            actions=tuple(a for a in actions.values() if a),
            actions_zh=tuple(a for a in actions_zh.values() if a),
        ))
    return flat_out, zone_out


def _hhmm(t: float, timezone: str) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(timezone)).strftime("%H:%M")
