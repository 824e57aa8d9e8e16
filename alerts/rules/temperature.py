"""Under-temperature rules: ``zone_cold`` (per zone) and ``supply_below_curve`` (per station)."""

from __future__ import annotations

from alerts.config import FieldNames, RuleParams, RuleSet, ZoneCold
from alerts.model import Severity, Signal, Verdict
from alerts.rules.base import StationRule, band
from alerts.rules.regime import heating_paused, supply_reference, switched_off
from alerts.rules.sensor import plausible
from alerts.schedule import heating_on, in_setback
from alerts.window import StationWindow, ZoneAggregate

__all__ = ["SupplyBelowCurveRule", "zone_cold_verdict"]


def zone_cold_verdict(now: float, agg: ZoneAggregate, rules: RuleSet) -> Verdict:
    """Too large a share of a zone's flats below the standard indoor temperature.

    A share, not a single flat, because one cold flat is an open window or a radiator valve;
    many cold flats in one zone is the network. During the zone's night setback the standard
    may be ``night_standard_c`` (some codes allow a lower night minimum). Severity follows the
    band: enough flats under ``critical_c`` (13 °C: frost damage, health risk) is critical.
    """
    p: ZoneCold = rules.zone_cold
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


class SupplyBelowCurveRule(StationRule):
    """Secondary supply well under its reference (see :func:`supply_reference`).

    The curve references are lowered by the night setback, so a planned setback never alerts;
    nor does a planned off window, an idle station (``heating_not_resumed`` judges that) or
    the warm-up after a restart (:mod:`alerts.rules.regime`). The alert names the reference it
    used (``reference``: setpoint, calibrated or curve).
    """

    name = "supply_below_curve"
    family = "under_temperature"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.supply_below_curve

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.supply_below_curve
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
