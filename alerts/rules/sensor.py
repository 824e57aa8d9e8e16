"""Sensor-fault rules: ``stuck_sensor``, ``out_of_range``, ``return_above_supply``.

These say "do not trust this station's numbers" rather than "the heating failed"; they exist
so that a broken probe is fixed before it hides (or fakes) a real under-temperature alert.
"""

from __future__ import annotations

from alerts.config import FieldNames, RuleParams, RuleSet
from alerts.model import Signal, Verdict
from alerts.rules.base import StationRule
from alerts.rules.plausible import plausibility, plausible, sentinel_set
from alerts.rules.regime import flow_floor, heating_paused
from alerts.window import StationWindow

__all__ = [
    "OutOfRangeRule", "ReturnAboveSupplyRule", "StuckSensorRule", "plausibility", "plausible",
    "sentinel_set",
]


class StuckSensorRule(StationRule):
    """A field that keeps arriving with exactly the same value for hours.

    Measured between sample timestamps (not against ``now``), so a station that simply went
    silent is offline, not stuck. Not while the station is idle (not delivering heat): a still
    pipe in summer holds its temperature to the last decimal for days, as real stations show.
    """

    name = "stuck_sensor"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.stuck_sensor

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.stuck_sensor
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


class OutOfRangeRule(StationRule):
    """Physically impossible values and the sentinels some loggers send for a dead probe."""

    name = "out_of_range"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.out_of_range

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.out_of_range
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


class ReturnAboveSupplyRule(StationRule):
    """Return hotter than supply: swapped probes or a probe not in the pipe it claims.

    A pair is judged only while its circuit circulates: in a still pipe the probes cool at
    their own pace, and a restart pushes cold supply water past a warm return probe for a few
    samples. Circulation is the circuit's flow above a floor (secondary: ``pump_stopped``'s;
    primary: ``primary_flow_min``), or without a flow field heat power of at least
    ``heating.delivering_kw``; with no evidence, no verdict. Not while heating is planned off
    or warming up.
    """

    name = "return_above_supply"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.return_above_supply

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.return_above_supply
        margin = p.margin_k
        seen = False
        for sup_name, ret_name, flow in (
            (names.primary_supply_temp, names.primary_return_temp,
             circulating(window, names.primary_flow, p.primary_flow_min, rules, names)),
            (names.supply_temp, names.return_temp,
             circulating(window, names.flow, flow_floor(window, rules.pump_stopped), rules,
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
