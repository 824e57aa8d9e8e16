"""The household rules: ``flat_cold`` (one flat under the indoor standard for a hold) and
``flat_sensor`` (a flat's indoor sensor that cannot be right).

Pure verdicts over one flat's :class:`~alerts.flats.FlatState` (the robust level, the cold
run, the sensor's state: see :mod:`alerts.flats`, which also explains the cost at city scale)
and what its station is doing (:class:`~alerts.flats.StationView`). The engine judges a flat
when its reading or its hold timer makes it worth it (``Engine._evaluate_flats``).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from alerts.flats import FlatInfo, FlatState, StationView
from alerts.model import Scope, Severity, Signal, Verdict
from alerts.params import RuleParams
from alerts.rules.base import band
from alerts.rules.spec import PlotPanel, RuleSpec

__all__ = ["CAUSE", "FLAT_COLD_RULE", "FLAT_SENSOR_RULE", "RULES", "FlatCold", "FlatSensor",
           "flat_cold_verdict", "flat_sensor_verdict"]


class FlatCold(RuleParams):
    """``flat_cold``: one flat's robust level under the indoor standard for ``hold_s``."""

    hold_s: float = Field(default=7200.0, ge=0, description="level under the standard this long")
    standard_c: float = 18.0
    night_standard_c: float | None = None  # standard during the zone's night setback
    critical_c: float = 13.0
    recover_k: float = Field(default=0.5, ge=0, description="back above standard + this: clear")
    median_of: int = Field(default=3, ge=1, le=9, description="readings in the robust level")
    # A flat cooled by its station's fault (an inhibitor of flat_cold firing) is warming back
    # once the station recovered: it is paged on its own only when it stops (rises less than
    # recover_rise_k in a hold) or is still cold recover_max_s after the station recovered.
    recover_rise_k: float = Field(default=0.2, ge=0, description="warming per hold, K")
    recover_max_s: float = Field(default=86400.0, ge=0, description="to warm back, s")

    def check(self) -> None:
        if self.critical_c > self.standard_c:
            raise ValueError("flat_cold: critical_c must be <= standard_c")
        if self.median_of % 2 == 0:
            raise ValueError("flat_cold: median_of must be odd")


class FlatSensor(RuleParams):
    """``flat_sensor``: a flat's indoor sensor that cannot be right."""

    for_s: float = 3600.0
    valid_min: float = 0.0
    valid_max: float = 40.0
    sentinels: tuple[float, ...] = (-39.9, -127.0, 327.67, -327.68, 999.9, 85.0)
    stuck_after_s: float = Field(default=21600.0, gt=0, description="same value this long")
    stuck_min_samples: int = Field(default=12, ge=2)
    neighbour_gap_k: float = Field(default=8.0, gt=0, description="under every neighbour by")
    min_neighbours: int = Field(default=3, ge=1)

    def check(self) -> None:
        if self.valid_min >= self.valid_max:
            raise ValueError("flat_sensor: valid_min must be < valid_max")


def _where(info: FlatInfo) -> str:
    parts = [f"floor {info.floor}"] if info.floor is not None else []
    if info.top_floor:
        parts.append("top floor")
    if info.gable_end:
        parts.append("gable end")
    return ", ".join(parts)


CAUSE = {
    "normal": "station delivering to its reference: cause in the building or the flat, crew visit",
    "station_alert": "the station's own alert is the cause",
    "under_supply": "station supply under its reference",
    "idle": "station not delivering heat",
    "unknown": "station state unknown",
}


def flat_cold_verdict(
    now: float, flat: FlatState, p: FlatCold, standard: float, in_season: bool,
    info: FlatInfo, station: StationView,
) -> Verdict:
    """FIRE once the flat's robust level has been under ``standard`` for ``hold_s``.

    ``standard``: the one in force now (the night standard during the zone's setback);
    ``in_season``: the heating season (out of season nothing is owed: CLEAR). A sensor that
    cannot be right is HOLD here (``flat_sensor`` says so), as is a flat with too few
    readings: neither resolves an alert by accident nor raises one.
    """
    if not in_season:
        return Verdict.clear()
    level = flat.level
    if flat.sensor or math.isnan(level):
        return Verdict.hold()
    since = flat.cold_since
    signal = band(since is not None and level < standard and now - since >= p.hold_s,
                  level >= standard + p.recover_k)
    if signal is not Signal.FIRE:
        return Verdict(signal)
    assert since is not None
    state = station.state
    hours = (now - since) / 3600.0
    where = _where(info)
    low = min(flat.low, level)
    firing = ", ".join(station.firing)
    return Verdict(
        Signal.FIRE,
        severity=Severity.CRITICAL if level < p.critical_c else Severity.WARNING,
        value=level,
        summary=(
            f"flat {flat.meter}{f' ({where})' if where else ''} at {level:.1f} °C, under "
            f"{standard:g} °C for {hours:.1f} h (lowest {low:.1f} °C); "
            f"{CAUSE[state]}{f' ({firing})' if firing else ''}"
        ),
        annotations=(
            ("flat", flat.meter),
            ("floor", "" if info.floor is None else str(info.floor)),
            ("top_floor", "yes" if info.top_floor else ""),
            ("gable_end", "yes" if info.gable_end else ""),
            ("level_c", f"{level:.1f}"),
            ("lowest_c", f"{low:.1f}"),
            ("standard_c", f"{standard:g}"),
            ("cold_since", f"{since:.0f}"),
            ("hours", f"{hours:.1f}"),
            ("station_state", state),
            ("station_alerts", firing),
        ),
    )


def flat_sensor_verdict(flat: FlatState, p: FlatSensor) -> Verdict:
    """FIRE while the flat's sensor cannot be right (see :class:`FlatState` ``sensor``)."""
    reason = flat.sensor
    if not reason:
        return Verdict.clear()
    what = {
        "sentinel": f"reads {flat.last_raw:g}, not a room temperature",
        "stuck": f"reads {flat.last_raw:g} unchanged for {flat.same_count} readings",
        "below_neighbours": (f"level {flat.level:.1f} °C is over {p.neighbour_gap_k:g} K under "
                             "every other flat of its station while the station delivers heat"),
    }[reason]
    return Verdict(
        Signal.FIRE,
        value=flat.last_raw if reason != "below_neighbours" else flat.level,
        summary=f"indoor sensor of flat {flat.meter} {what}",
        annotations=(("flat", flat.meter), ("reason", reason)),
    )


FLAT_COLD_RULE = RuleSpec(
    name="flat_cold", family="under_temperature", model=FlatCold, scope=Scope.FLAT,
    plot=PlotPanel.INDOOR,
)  # per flat, from alerts.flats.FlatBook: the engine steps it with flat_cold_verdict
FLAT_SENSOR_RULE = RuleSpec(
    name="flat_sensor", family="sensor", model=FlatSensor, scope=Scope.FLAT,
    plot=PlotPanel.INDOOR,
)  # per flat: the engine steps it with flat_sensor_verdict
RULES: tuple[RuleSpec[Any], ...] = (FLAT_COLD_RULE, FLAT_SENSOR_RULE)
