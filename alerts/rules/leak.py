"""Leak rules: ``makeup_surge``, ``pressure_drop``, ``tank_draining``.

A secondary-circuit leak shows first as make-up water the station keeps adding, then as
falling pressure once make-up cannot keep up, and on stations with an expansion tank as a
falling tank level; each rule watches one of those signs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from alerts.model import Severity, Signal, Verdict
from alerts.params import FieldNames, RuleParams
from alerts.rules.base import band
from alerts.rules.outage import PUMP_STOPPED
from alerts.rules.plausible import plausibility, plausible, plausible_range
from alerts.rules.regime import flow_floor
from alerts.rules.spec import PlotPanel, Prescreen, Published, RuleSpec, ScreenContext, number
from alerts.window import StationWindow

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["MAKEUP_SURGE", "PRESSURE_DROP", "RULES", "TANK_DRAINING", "MakeupSurge",
           "PressureDrop", "TankDraining"]


class MakeupSurge(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 600.0
    ratio: float = Field(default=0.02, gt=0, lt=1, description="make-up / circulating flow")
    recover_ratio: float = Field(default=0.015, gt=0, lt=1)

    def check(self) -> None:
        if self.recover_ratio > self.ratio:
            raise ValueError("makeup_surge: recover_ratio must be <= ratio")


class PressureDrop(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 60.0
    floor_bar: float = 1.0
    recover_bar: float = 1.2
    max_fall_bar_per_min: float = Field(default=0.1, gt=0)
    window_s: float = Field(default=600.0, gt=0)

    def check(self) -> None:
        if self.recover_bar < self.floor_bar:
            raise ValueError("pressure_drop: recover_bar must be >= floor_bar")


class TankDraining(RuleParams):
    for_s: float = 300.0
    max_fall_per_min: float = Field(default=0.005, gt=0, description="metres per minute")
    window_s: float = Field(default=900.0, gt=0)


def makeup_surge(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """Make-up water as a share of the circulating secondary flow.

    When circulation has collapsed (flow under ``pump_stopped``'s floor, or the station idle:
    switched off, a pump at minimum speed keeps a percent of its flow while the cooling
    water contracts and is made up) that share would explode from a pump trip or a night
    shutdown alone, so the station's design flow is the yardstick then, and without one there
    is no verdict: ``pump_stopped`` speaks.
    """
    p = MAKEUP_SURGE.params(rules)
    makeup = window.number(names.makeup_flow)
    circ = window.number(names.flow)
    if makeup is None or circ is None:
        return Verdict.hold()
    design = window.design_flow
    collapsed = (circ <= 0 or circ < flow_floor(window, PUMP_STOPPED.params(rules))
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


def makeup_surge_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    ps = PUMP_STOPPED.params(rules)
    flow_min, share = ps.flow_min, ps.flow_min_share
    limit = MAKEUP_SURGE.params(rules).ratio
    field = names.makeup_flow

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        flow = ctx.flow
        if flow is None:
            return False
        st = ctx.get(field)
        makeup = None if st is None else st.value
        if makeup.__class__ is not float or makeup - makeup != 0.0:
            makeup = number(st)
        if makeup is None:
            return False
        base: float | None = flow
        design = window.design_flow
        if (flow <= 0 or flow < (flow_min if design is None else share * design)
                or window.delivering is False):
            base = design  # collapsed circulation: the design flow
        return base is not None and makeup / base >= limit

    return check


def pressure_drop(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    p = PRESSURE_DROP.params(rules)
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


def pressure_drop_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = PRESSURE_DROP.params(rules)
    floor, max_fall, window_s, half = (p.floor_bar, p.max_fall_bar_per_min, p.window_s,
                                       p.window_s / 2)
    field = names.static_pressure
    ok = plausibility(field, rules)
    lo, hi, exact = plausible_range(field, rules)  # ok(v) is lo <= v <= hi when exact

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        st = ctx.get(field)
        pressure = None if st is None else st.value
        if pressure.__class__ is not float or pressure - pressure != 0.0:
            pressure = number(st)
        if pressure is None or not (lo <= pressure <= hi if exact else ok(pressure)):
            return False
        if pressure < floor:
            return True
        ring = window.history.get(field)
        if ring is None or not ring.values:
            return False
        # fall <= (top - newest) / (window / 2) * 60 when the newest sample is valid
        # (v_i <= top, t_j - t_i >= window / 2, monotonic rounding): if that bound is within
        # the limit, the rate cannot exceed it
        last = ring.values[-1]
        if ((lo <= last <= hi if exact else ok(last))
                and (ring.top - last) / half * 60.0 <= max_fall):
            return False
        fall = window.fall_rate_per_min(field, window_s, now, ok)
        return fall is not None and fall > max_fall

    return check


def tank_draining(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    p = TANK_DRAINING.params(rules)
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


def tank_draining_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = TANK_DRAINING.params(rules)
    max_fall, window_s, half = p.max_fall_per_min, p.window_s, p.window_s / 2
    field = names.tank_level
    ok = plausibility(field, rules)
    lo, hi, exact = plausible_range(field, rules)  # ok(v) is lo <= v <= hi when exact

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        ring = window.history.get(field)
        if ring is None or not ring.values:
            return False
        last = ring.values[-1]  # the same bound as for the pressure
        if ((lo <= last <= hi if exact else ok(last))
                and (ring.top - last) / half * 60.0 <= max_fall):
            return False
        fall = window.fall_rate_per_min(field, window_s, now, ok)
        return fall is not None and fall > max_fall

    return check


def _makeup_onset(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    makeup, circ = pub.number(names.makeup_flow), pub.number(names.flow)
    return circ > 0 and makeup / circ >= MAKEUP_SURGE.params(rules).ratio


def _pressure_onset(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    p = PRESSURE_DROP.params(rules)
    fall = pub.fall(names.static_pressure, p.window_s)
    return (pub.number(names.static_pressure) < p.floor_bar
            or (fall is not None and fall > p.max_fall_bar_per_min))


def _tank_onset(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    p = TANK_DRAINING.params(rules)
    fall = pub.fall(names.tank_level, p.window_s)
    return fall is not None and fall > p.max_fall_per_min


def _pressure_window(rules: RuleSet) -> float:
    return PRESSURE_DROP.params(rules).window_s


def _tank_window(rules: RuleSet) -> float:
    return TANK_DRAINING.params(rules).window_s


MAKEUP_SURGE = RuleSpec(
    name="makeup_surge", family="leak", model=MakeupSurge, order=40,
    verdict=makeup_surge, screen=makeup_surge_screen, onset=_makeup_onset,
    plot=PlotPanel.MAKEUP,
)
PRESSURE_DROP = RuleSpec(
    name="pressure_drop", family="leak", model=PressureDrop, order=50,
    verdict=pressure_drop, screen=pressure_drop_screen,
    rates=lambda rules, names: (names.static_pressure,), lookback=_pressure_window,
    onset=_pressure_onset,
    plot=PlotPanel.PRESSURE,
)
TANK_DRAINING = RuleSpec(
    name="tank_draining", family="leak", model=TankDraining, order=60,
    verdict=tank_draining, screen=tank_draining_screen,
    rates=lambda rules, names: (names.tank_level,), lookback=_tank_window,
    onset=_tank_onset,
    plot=PlotPanel.PRESSURE,
)
RULES: tuple[RuleSpec[Any], ...] = (MAKEUP_SURGE, PRESSURE_DROP, TANK_DRAINING)
