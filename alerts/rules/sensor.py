"""Sensor-fault rules: ``stuck_sensor``, ``out_of_range``, ``return_above_supply``.

These say "do not trust this station's numbers" rather than "the heating failed"; they exist
so that a broken probe is fixed before it hides (or fakes) a real under-temperature alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from alerts.model import Signal, Verdict
from alerts.params import FieldNames, RuleParams
from alerts.rules.outage import PUMP_STOPPED
from alerts.rules.plausible import OutOfRange, Range, plausibility, plausible, sentinel_set
from alerts.rules.regime import flow_floor, heating_paused
from alerts.rules.spec import PlotPanel, Prescreen, RuleSpec, ScreenContext, number
from alerts.window import StationWindow

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = [
    "OUT_OF_RANGE", "RETURN_ABOVE_SUPPLY", "RULES", "STUCK_SENSOR", "OutOfRange", "Range",
    "ReturnAboveSupply", "StuckSensor", "circulating", "plausibility", "plausible",
    "sentinel_set",
]


class StuckSensor(RuleParams):
    stuck_after_s: float = Field(default=7200.0, gt=0)
    min_samples: int = Field(default=10, ge=2)
    fields: tuple[str, ...] = (
        "supply_temp", "return_temp", "primary_supply_temp", "primary_return_temp",
        "supply_pressure", "return_pressure",
    )


class ReturnAboveSupply(RuleParams):
    for_s: float = 900.0
    margin_k: float = Field(default=1.0, ge=0)
    # A circuit's pair is judged only while that circuit circulates (a still pipe's probes
    # drift apart as they cool); the secondary uses pump_stopped's flow floor.
    primary_flow_min: float = Field(default=0.1, ge=0, description="m³/h primary circulation")


def stuck_sensor(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """A field that keeps arriving with exactly the same value for hours.

    Measured between sample timestamps (not against ``now``), so a station that simply went
    silent is offline, not stuck. Not while the station is idle (not delivering heat): a still
    pipe in summer holds its temperature to the last decimal for days, as real stations show.
    """
    p = STUCK_SENSOR.params(rules)
    if window.delivering is False:
        return Verdict.clear()
    stuck = []
    for name in p.fields:
        state = window.fields.get(name)
        if state is None or isinstance(state.value, bool | str):
            continue
        if state.same_count >= p.min_samples and state.ts - state.changed_at >= p.stuck_after_s:
            stuck.append(name)
    if not stuck:
        return Verdict.clear()
    return Verdict(
        Signal.FIRE,
        summary=f"stuck sensor(s) at {window.station}: {', '.join(stuck)}",
        annotations=(("fields", ",".join(stuck)),),
    )


def stuck_sensor_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = STUCK_SENSOR.params(rules)
    fields, after, samples = p.fields, p.stuck_after_s, p.min_samples

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        if window.delivering is False:
            return False
        get = ctx.get
        for name in fields:
            st = get(name)
            if (st is not None and st.same_count >= samples and st.ts - st.changed_at >= after
                    and not isinstance(st.value, bool | str)):
                return True
        return False

    return check


def out_of_range(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """Physically impossible values and the sentinels some loggers send for a dead probe."""
    p = OUT_OF_RANGE.params(rules)
    sentinels = sentinel_set(p.sentinels)
    bad = []
    for name, limits in p.ranges.items():
        value = window.number(name)
        if value is None:
            continue
        if round(value, 3) in sentinels or not limits.min <= value <= limits.max:
            bad.append(f"{name}={value:g}")
    if not bad:
        return Verdict.clear()
    return Verdict(
        Signal.FIRE,
        summary=f"implausible values at {window.station}: {', '.join(bad)}",
        annotations=(("fields", ",".join(bad)),),
    )


def out_of_range_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = OUT_OF_RANGE.params(rules)
    sentinels = sentinel_set(p.sentinels)
    # (field, min, max, (s - 0.001, s + 0.001) for each sentinel within 0.001 of the range):
    # round(v, 3) is within 0.0006 of v, so only a value inside one of those intervals can
    # round to a sentinel and needs the set test
    ranges = tuple(
        (name, r.min, r.max, tuple((x - 0.001, x + 0.001) for x in sorted(sentinels)
                                   if r.min - 0.001 <= x <= r.max + 0.001))
        for name, r in p.ranges.items()
    )

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        get = ctx.get
        for name, lo, hi, near in ranges:
            st = get(name)
            if st is None:
                continue
            v = st.value
            if v.__class__ is float:
                if lo <= v <= hi:
                    if not near:
                        continue
                    hit = False
                    for a, b in near:
                        if a <= v <= b:
                            hit = round(v, 3) in sentinels
                            break
                    if not hit:
                        continue
                elif v - v != 0.0:
                    continue  # non-finite: no number, not out of range
                return True
            x = number(st)
            if x is not None and (round(x, 3) in sentinels or not lo <= x <= hi):
                return True
        return False

    return check


def return_above_supply(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """Return hotter than supply: swapped probes or a probe not in the pipe it claims.

    A pair is judged only while its circuit circulates: in a still pipe the probes cool at
    their own pace, and a restart pushes cold supply water past a warm return probe for a few
    samples. Circulation is the circuit's flow above a floor (secondary: ``pump_stopped``'s;
    primary: ``primary_flow_min``), or without a flow field heat power of at least
    ``heating.delivering_kw``; with no evidence, no verdict. Not while heating is planned off
    or warming up.
    """
    p = RETURN_ABOVE_SUPPLY.params(rules)
    margin = p.margin_k
    seen = False
    for sup_name, ret_name, flow in (
        (names.primary_supply_temp, names.primary_return_temp,
         circulating(window, names.primary_flow, p.primary_flow_min, rules, names)),
        (names.supply_temp, names.return_temp,
         circulating(window, names.flow, flow_floor(window, PUMP_STOPPED.params(rules)), rules,
                     names)),
    ):
        if not flow:
            continue
        sup, ret = window.number(sup_name), window.number(ret_name)
        if sup is None or ret is None:
            continue
        seen = True
        if ret > sup + margin:
            if heating_paused(now, window, rules, names):
                return Verdict.clear()
            return Verdict(
                Signal.FIRE,
                value=ret - sup,
                summary=(
                    f"{ret_name} {ret:.1f} °C above {sup_name} {sup:.1f} °C "
                    f"at {window.station}"
                ),
            )
    return Verdict.clear() if seen else Verdict.hold()


def return_above_supply_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    ps, p = PUMP_STOPPED.params(rules), RETURN_ABOVE_SUPPLY.params(rules)
    flow_min, share = ps.flow_min, ps.flow_min_share
    margin, primary_flow_min = p.margin_k, p.primary_flow_min
    delivering_kw = rules.heating.delivering_kw
    p_supply, p_return = names.primary_supply_temp, names.primary_return_temp
    p_flow, power_name = names.primary_flow, names.heat_power

    def circulates(window: StationWindow, flow: float | None, floor: float) -> bool:
        """The circuit's flow at or above ``floor``, else heat power at ``delivering_kw``."""
        if flow is not None:
            return flow >= floor
        power = number(window.fields.get(power_name))
        return power is not None and power >= delivering_kw

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        supply, ret = ctx.supply, ctx.ret
        hot = False
        if supply is not None and ret is not None and ret > supply + margin:
            design = window.design_flow
            hot = circulates(window, ctx.flow,
                             flow_min if design is None else share * design)
        if not hot:
            get = ctx.get
            st = get(p_supply)
            sup = None if st is None else st.value
            if sup.__class__ is not float or sup - sup != 0.0:
                sup = number(st)
            st = get(p_return)
            pret = None if st is None else st.value
            if pret.__class__ is not float or pret - pret != 0.0:
                pret = number(st)
            if sup is not None and pret is not None and pret > sup + margin:
                hot = circulates(window, number(get(p_flow)), primary_flow_min)
        return hot and not ctx.paused(window, now)

    return check


def circulating(
    window: StationWindow, flow_name: str, floor: float, rules: RuleSet, names: FieldNames
) -> bool | None:
    """Does a circuit circulate? Its flow against ``floor``, else heat power against
    ``delivering_kw``; None without either."""
    flow = window.number(flow_name)
    if flow is not None:
        return flow >= floor
    power = window.number(names.heat_power)
    if power is not None:
        return power >= rules.heating.delivering_kw
    return None


def _stuck_fields(rules: RuleSet) -> tuple[str, ...]:
    return STUCK_SENSOR.params(rules).fields


def _range_fields(rules: RuleSet) -> tuple[str, ...]:
    return tuple(OUT_OF_RANGE.params(rules).ranges)


STUCK_SENSOR = RuleSpec(
    name="stuck_sensor", family="sensor", model=StuckSensor, order=90,
    verdict=stuck_sensor, screen=stuck_sensor_screen,
    reads=lambda rules, names: _stuck_fields(rules),
)
OUT_OF_RANGE = RuleSpec(
    name="out_of_range", family="sensor", model=OutOfRange, order=100,
    verdict=out_of_range, screen=out_of_range_screen,
    reads=lambda rules, names: _range_fields(rules),
)
RETURN_ABOVE_SUPPLY = RuleSpec(
    name="return_above_supply", family="sensor", model=ReturnAboveSupply, order=110,
    verdict=return_above_supply, screen=return_above_supply_screen,
    plot=PlotPanel.PRIMARY,
)
RULES: tuple[RuleSpec[Any], ...] = (STUCK_SENSOR, OUT_OF_RANGE, RETURN_ABOVE_SUPPLY)
