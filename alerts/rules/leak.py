"""Leak rules: ``makeup_surge``, ``pressure_drop``, ``tank_draining``.

A secondary-circuit leak shows first as make-up water the station keeps adding, then as
falling pressure once make-up cannot keep up, and on stations with an expansion tank as a
falling tank level; each rule watches one of those signs.
"""

from __future__ import annotations

from alerts.config import FieldNames, RuleParams, RuleSet
from alerts.model import Signal, Verdict
from alerts.rules.base import StationRule, band
from alerts.rules.regime import flow_floor
from alerts.rules.sensor import plausible
from alerts.window import StationWindow

__all__ = ["MakeupSurgeRule", "PressureDropRule", "TankDrainingRule"]


class MakeupSurgeRule(StationRule):
    """Make-up water as a share of the circulating secondary flow.

    When circulation has collapsed (flow under ``pump_stopped``'s floor, or the station idle:
    switched off, a pump at minimum speed keeps a percent of its flow while the cooling
    water contracts and is made up) that share would explode from a pump trip or a night
    shutdown alone, so the station's design flow is the yardstick then, and without one there
    is no verdict: ``pump_stopped`` speaks.
    """

    name = "makeup_surge"
    family = "leak"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.makeup_surge

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.makeup_surge
        makeup = window.number(names.makeup_flow)
        circ = window.number(names.flow)
        if makeup is None or circ is None:
            return Verdict.hold()
        design = window.design_flow
        collapsed = (circ <= 0 or circ < flow_floor(window, rules.pump_stopped)
                     or window.delivering is False)
        if collapsed and design is None:
            return Verdict.hold()  # no circulation and no yardstick: pump_stopped speaks
        base = design if collapsed and design is not None else circ
        ratio = makeup / base
        signal = band(ratio >= p.ratio, ratio <= p.recover_ratio)
        if signal is not Signal.FIRE:
            return Verdict(signal)
        if collapsed:
            return Verdict(
                Signal.FIRE,
                value=ratio,
                summary=(
                    f"make-up water at {window.station} is {ratio:.1%} of its design flow "
                    f"with circulation collapsed (limit {p.ratio:.1%})"
                ),
                annotations=(("makeup_flow", f"{makeup:g}"), ("design_flow", f"{base:g}"),
                             ("circulating_flow", f"{circ:g}")),
            )
        return Verdict(
            Signal.FIRE,
            value=ratio,
            summary=(
                f"make-up water at {window.station} is {ratio:.1%} of circulating flow "
                f"(limit {p.ratio:.1%})"
            ),
            annotations=(("makeup_flow", f"{makeup:g}"), ("circulating_flow", f"{circ:g}")),
        )


class PressureDropRule(StationRule):
    name = "pressure_drop"
    family = "leak"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.pressure_drop

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.pressure_drop
        field = names.static_pressure
        pressure = window.number(field)
        if pressure is None or not plausible(field, pressure, rules):
            return Verdict.hold()  # a dead probe is out_of_range's business
        fall = window.fall_rate_per_min(field, p.window_s, now,
                                        lambda v: plausible(field, v, rules))
        too_low = pressure < p.floor_bar
        too_fast = fall is not None and fall > p.max_fall_bar_per_min
        calm = fall is None or fall <= p.max_fall_bar_per_min / 2
        signal = band(too_low or too_fast, pressure >= p.recover_bar and calm)
        if signal is not Signal.FIRE:
            return Verdict(signal)
        why = (
            f"under the floor {p.floor_bar:g} bar"
            if too_low
            else f"falling {fall:.2f} bar/min"
        )
        # Crews judge urgency by the trend, so the message carries it (bar per 10 min).
        trend = () if fall is None else (("fall_bar_per_10min", f"{fall * 10:.2f}"),)
        return Verdict(
            Signal.FIRE,
            value=pressure,
            summary=f"secondary pressure at {window.station} {pressure:.2f} bar, {why}",
            annotations=(("floor_bar", f"{p.floor_bar:g}"), *trend),
        )


class TankDrainingRule(StationRule):
    name = "tank_draining"
    family = "leak"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.tank_draining

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.tank_draining
        field = names.tank_level
        fall = window.fall_rate_per_min(field, p.window_s, now,
                                        lambda v: plausible(field, v, rules))
        if fall is None:
            return Verdict.hold()
        signal = band(fall > p.max_fall_per_min, fall <= p.max_fall_per_min / 2)
        if signal is not Signal.FIRE:
            return Verdict(signal)
        return Verdict(
            Signal.FIRE,
            value=fall,
            summary=f"tank level at {window.station} falling {fall:.2f}/min",
        )
