"""Under-temperature rules: ``zone_cold`` (per zone) and ``supply_below_curve`` (per station)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from alerts.model import Scope, Severity, Signal, Verdict
from alerts.params import CurvePoint, FieldNames, RuleParams
from alerts.rules.base import band
from alerts.rules.plausible import plausibility, plausible
from alerts.rules.regime import heating_paused, supply_reference, switched_off
from alerts.rules.spec import PlotPanel, Prescreen, Published, RuleSpec, ScreenContext, number
from alerts.schedule import curve_setpoint, heating_on, in_setback
from alerts.window import StationWindow, ZoneAggregate

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["RULES", "SUPPLY_BELOW_CURVE", "ZONE_COLD", "SupplyBelowCurve", "ZoneCold",
           "zone_cold_verdict"]


class ZoneCold(RuleParams):
    for_s: float = 1800.0
    standard_c: float = 18.0
    night_standard_c: float | None = None  # standard during the zone's night setback
    critical_c: float = 13.0
    share: float = Field(default=0.10, gt=0, le=1, description="share of flats below the standard")
    recover_share: float = Field(default=0.05, ge=0, le=1)
    min_flats: int = Field(default=3, ge=1)

    def check(self) -> None:
        if self.recover_share > self.share:
            raise ValueError("zone_cold: recover_share must be <= share")
        if self.critical_c > min(self.standard_c, self.night_standard_c or self.standard_c):
            raise ValueError("zone_cold: critical_c must be <= standard_c and night_standard_c")


class SupplyBelowCurve(RuleParams):
    for_s: float = 1800.0
    tolerance_k: float = Field(default=5.0, ge=0)
    recover_k: float = Field(default=3.0, ge=0, description="back within this of the setpoint")
    curve: tuple[CurvePoint, ...] = (
        CurvePoint(outdoor_c=-19.0, supply_c=55.0),
        CurvePoint(outdoor_c=5.0, supply_c=35.0),
    )
    # The station's own learned curve (``heatwatch rules calibrate``); the reference order is
    # the reading's supply_setpoint, then this, then ``curve``.
    calibrated_curve: tuple[CurvePoint, ...] | None = None

    @field_validator("curve", "calibrated_curve")
    @classmethod
    def _curve(cls, curve: tuple[CurvePoint, ...] | None) -> tuple[CurvePoint, ...] | None:
        if curve is None:
            return None
        xs = [p.outdoor_c for p in curve]
        if len(xs) < 2 or any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError("curve needs >= 2 points with strictly increasing outdoor_c")
        return curve

    def check(self) -> None:
        if self.recover_k > self.tolerance_k:
            raise ValueError("supply_below_curve: recover_k must be <= tolerance_k")




def zone_cold_verdict(now: float, agg: ZoneAggregate, rules: RuleSet) -> Verdict:
    """Too large a share of a zone's flats below the standard indoor temperature.

    A share, not a single flat, because one cold flat is an open window or a radiator valve;
    many cold flats in one zone is the network. During the zone's night setback the standard
    may be ``night_standard_c`` (some codes allow a lower night minimum). Severity follows the
    band: enough flats under ``critical_c`` (13 °C: frost damage, health risk) is critical.
    """
    p = ZONE_COLD.params(rules)
    if not heating_on(now, rules.heating):
        return Verdict.clear()
    standard = p.standard_c
    if p.night_standard_c is not None and in_setback(now, rules.heating):
        standard = p.night_standard_c
    agg.set_thresholds(standard, p.critical_c)
    n = agg.flats
    if n < p.min_flats:
        return Verdict.hold()
    share = agg.below_standard / n
    signal = band(share >= p.share, share <= p.recover_share)
    if signal is not Signal.FIRE:
        return Verdict(signal)
    critical = agg.below_critical / n >= p.share
    low, median = agg.stats()
    return Verdict(
        Signal.FIRE,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        value=share,
        summary=(
            f"{agg.below_standard} of {n} flats in zone {agg.zone} below "
            f"{standard:g} °C (min {low:.1f} °C, median {median:.1f} °C)"
        ),
        annotations=(
            ("flats_affected", str(agg.below_standard)),
            ("flats_critical", str(agg.below_critical)),
            ("flats_total", str(n)),
            ("min_indoor_c", f"{low:.1f}"),
            ("median_indoor_c", f"{median:.1f}"),
            ("standard_c", f"{standard:g}"),
        ),
    )


def supply_below_curve(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """Secondary supply well under its reference (see :func:`supply_reference`).

    The curve references are lowered by the night setback, so a planned setback never alerts;
    nor does a planned off window, an idle station (``heating_not_resumed`` judges that) or
    the warm-up after a restart (:mod:`alerts.rules.regime`). The alert names the reference it
    used (``reference``: setpoint, calibrated or curve).
    """
    p = SUPPLY_BELOW_CURVE.params(rules)
    if not heating_on(now, rules.heating):
        return Verdict.clear()
    supply = window.number(names.supply_temp)
    ref = supply_reference(now, window, rules, names)
    if supply is None or ref is None:
        return Verdict.hold()
    setpoint, reference = ref
    deficit = setpoint - supply
    signal = band(deficit > p.tolerance_k, deficit <= p.recover_k)
    if signal is Signal.CLEAR:
        return Verdict.clear()  # hot path: a healthy station needs no further check
    if switched_off(now, window, rules) or heating_paused(now, window, rules, names):
        return Verdict.clear()  # planned off, switched off or warming up: nothing owed
    outdoor = window.number(names.outdoor_temp)
    if not ((outdoor is None or plausible(names.outdoor_temp, outdoor, rules))
            and plausible(names.supply_temp, supply, rules)):
        return Verdict.hold()  # a sentinel (-39.9) is a dead probe, not cold water
    if signal is not Signal.FIRE:
        return Verdict(signal)
    wants = {"setpoint": "its controller wants", "calibrated": "its calibrated curve wants",
             "curve": "the curve wants"}[reference]
    outside = "" if outdoor is None else f" at {outdoor:.1f} °C outside"
    return Verdict(
        Signal.FIRE,
        value=supply,
        summary=(
            f"supply at {window.station} {supply:.1f} °C, {wants} {setpoint:.1f} °C"
            f"{outside} ({reference})"
        ),
        annotations=(
            ("setpoint_c", f"{setpoint:.1f}"),
            *(() if outdoor is None else (("outdoor_c", f"{outdoor:.1f}"),)),
            ("reference", reference),
        ),
    )


def supply_below_curve_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = SUPPLY_BELOW_CURVE.params(rules)
    # curve_setpoint's points as floats: same operations on the same numbers, same result
    points = tuple((c.outdoor_c, c.supply_c) for c in p.calibrated_curve or p.curve)
    (first_o, first_s), (last_o, last_s) = points[0], points[-1]
    pairs = tuple(itertools.pairwise(points))
    tolerance = p.tolerance_k
    outdoor_name, setpoint_name = names.outdoor_temp, names.supply_setpoint
    outdoor_ok = plausibility(names.outdoor_temp, rules)
    supply_ok = plausibility(names.supply_temp, rules)
    setback_k = rules.heating.setback_k

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        supply = ctx.supply
        if not ctx.heating_on or supply is None:
            return False
        get = ctx.get
        st = get(outdoor_name)
        outdoor = None if st is None else st.value
        if outdoor.__class__ is not float or outdoor - outdoor != 0.0:
            outdoor = number(st)
        st = get(setpoint_name)
        setpoint = None if st is None else number(st)
        if setpoint is not None and supply_ok(setpoint):
            # the controller's own setpoint: no setback (it has its own night reduction)
            return (setpoint - supply > tolerance
                    and (outdoor is None or outdoor_ok(outdoor))
                    and supply_ok(supply) and not switched_off(now, window, rules)
                    and not ctx.paused(window, now))
        if outdoor is None:
            return False
        # curve_setpoint(outdoor, curve), inlined
        if outdoor <= first_o:
            setpoint = first_s
        elif outdoor >= last_o:
            setpoint = last_s
        else:
            setpoint = last_s
            for (lo_o, lo_s), (hi_o, hi_s) in pairs:
                if lo_o <= outdoor <= hi_o:
                    setpoint = lo_s + (outdoor - lo_o) / (hi_o - lo_o) * (hi_s - lo_s)
                    break
        if ctx.setback:
            setpoint -= setback_k
        return (setpoint - supply > tolerance and outdoor_ok(outdoor) and supply_ok(supply)
                and not switched_off(now, window, rules) and not ctx.paused(window, now))

    return check


def _curve_onset(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    """The curve reference (no setpoint: the simulator publishes none) against supply."""
    p = SUPPLY_BELOW_CURVE.params(rules)
    if not pub.season:
        return False
    setpoint = curve_setpoint(pub.number(names.outdoor_temp), p.calibrated_curve or p.curve)
    if pub.setback:
        setpoint -= rules.heating.setback_k
    return setpoint - pub.number(names.supply_temp) > p.tolerance_k


def _zone_onset(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    p = ZONE_COLD.params(rules)
    standard = p.night_standard_c if pub.setback and p.night_standard_c is not None \
        else p.standard_c
    below, flats = pub.flats_below(standard)
    return pub.season and flats >= p.min_flats and below / flats >= p.share


ZONE_COLD = RuleSpec(
    name="zone_cold", family="under_temperature", model=ZoneCold, scope=Scope.ZONE, order=70,
    onset=_zone_onset,
    plot=PlotPanel.INDOOR,
)  # per zone, from the zone's flats: the engine steps it with zone_cold_verdict
SUPPLY_BELOW_CURVE = RuleSpec(
    name="supply_below_curve", family="under_temperature", model=SupplyBelowCurve, order=80,
    verdict=supply_below_curve, screen=supply_below_curve_screen, onset=_curve_onset,
    plot=PlotPanel.TEMPERATURES,
)
RULES: tuple[RuleSpec[Any], ...] = (ZONE_COLD, SUPPLY_BELOW_CURVE)
