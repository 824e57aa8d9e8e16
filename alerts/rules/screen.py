"""A cheap pre-check of the station rules: which of them could say FIRE for a window right now.

The engine acts on a station rule's verdict only when it is FIRE or when that (rule, station)
already has a track (an open alert or recent flips); for every other station, the healthy
majority, the verdict is thrown away. So the engine asks :meth:`Screen.may_fire` first and
runs a rule's own ``evaluate`` only for the bits it returns (and for rules with a track).

The contract is one-sided: a bit may be set for a rule that would not fire (that only costs
its full evaluation), but a rule that would fire must never be left out. The screen states
each rule's FIRE condition once more, on the same window with the same arithmetic, with the
parameters of one effective rule set read once at construction instead of per rule and
reading; ``tests/alerts/test_alert_screen.py`` holds it to the rules on random windows
(sentinels, strings, booleans, non-finite values, missing fields, overrides, setback).
A change to a rule's FIRE condition must be made here too; that test fails until it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from alerts.config import FieldNames, RuleSet
from alerts.rules.sensor import plausibility, sentinel_set
from alerts.schedule import curve_setpoint, heating_on, in_setback
from alerts.window import FieldState, Ring, StationWindow

__all__ = ["Screen"]


def _num(state: FieldState | None) -> float | None:
    """:meth:`StationWindow.number` on a field state (finite numbers; bools are not)."""
    if state is None:
        return None
    v = state.value
    if type(v) is float:
        return v if v - v == 0.0 else None  # x - x is 0.0 exactly when x is finite
    if isinstance(v, bool | str):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class Screen:
    """The FIRE conditions of the station rules for one effective rule set.

    ``order`` names the rules in the engine's order; bit ``1 << i`` stands for ``order[i]``.
    Disabled rules (and names the screen does not know) never get a bit: the engine skips
    disabled rules anyway, and an unknown rule is always run (``always``).
    """

    def __init__(self, rules: RuleSet, names: FieldNames, order: Sequence[str]) -> None:
        bit = {name: 1 << i for i, name in enumerate(order)}
        known = {"power_loss", "pump_stopped", "makeup_surge", "pressure_drop", "tank_draining",
                 "supply_below_curve", "stuck_sensor", "out_of_range", "return_above_supply"}
        self.always = sum(b for name, b in bit.items() if name not in known)

        def on(name: str) -> int:
            params = getattr(rules, name)
            return bit.get(name, 0) if params.enabled else 0

        self.heating = rules.heating
        self._now = math.nan
        self._heating_on = self._setback = False

        self.b_power = on("power_loss")
        self.b_pump = on("pump_stopped")
        self.b_makeup = on("makeup_surge")
        self.b_pressure = on("pressure_drop")
        self.b_tank = on("tank_draining")
        self.b_curve = on("supply_below_curve")
        self.b_stuck = on("stuck_sensor")
        self.b_range = on("out_of_range")
        self.b_return = on("return_above_supply")

        self.power_ok, self.pump_running = names.power_ok, names.pump_running
        self.flow, self.makeup_flow = names.flow, names.makeup_flow
        self.supply, self.return_ = names.supply_temp, names.return_temp
        self.outdoor = names.outdoor_temp
        self.pressure, self.tank = names.static_pressure, names.tank_level
        self.pairs = ((names.primary_supply_temp, names.primary_return_temp),
                      (names.supply_temp, names.return_temp))

        ps = rules.pump_stopped
        self.flow_min, self.flow_min_share, self.dt_min = ps.flow_min, ps.flow_min_share, ps.dt_min
        self.makeup_ratio = rules.makeup_surge.ratio
        pd = rules.pressure_drop
        self.floor_bar, self.max_fall_bar = pd.floor_bar, pd.max_fall_bar_per_min
        self.pressure_window = pd.window_s
        self.pressure_ok = plausibility(names.static_pressure, rules)
        td = rules.tank_draining
        self.tank_window, self.max_tank_fall = td.window_s, td.max_fall_per_min
        self.tank_ok = plausibility(names.tank_level, rules)
        sb = rules.supply_below_curve
        self.curve, self.tolerance_k = sb.curve, sb.tolerance_k
        self.outdoor_ok = plausibility(names.outdoor_temp, rules)
        self.supply_ok = plausibility(names.supply_temp, rules)
        ss = rules.stuck_sensor
        self.stuck_fields, self.stuck_after = ss.fields, ss.stuck_after_s
        self.stuck_samples = ss.min_samples
        oor = rules.out_of_range
        self.sentinels = sentinel_set(oor.sentinels)
        # (field, min, max, whether a sentinel lies inside the range and needs the set test)
        self.ranges = tuple(
            (name, r.min, r.max, any(r.min - 0.001 <= s <= r.max + 0.001 for s in self.sentinels))
            for name, r in oor.ranges.items()
        )
        self.margin_k = rules.return_above_supply.margin_k

    def _clock(self, now: float) -> None:
        self._now = now
        self._heating_on = heating_on(now, self.heating)
        self._setback = in_setback(now, self.heating)

    @staticmethod
    def _may_fall(ring: Ring | None, window_s: float, limit: float,
                  valid: Callable[[float], bool]) -> bool:
        """False when ``fall_rate_per_min`` cannot exceed ``limit``, without computing it.

        The rate is (v_i - v_j) / (t_j - t_i) * 60 with t_j - t_i >= window_s / 2 (else it is
        None) and v_j the newest valid sample; with the newest sample valid, v_i <= ring.top
        bounds it by (top - newest) / (window_s / 2) * 60, and rounding is monotonic, so the
        bound holds in floating point too. NaN or an invalid newest sample: no shortcut.
        """
        if ring is None:
            return False
        values = ring.values
        if not values:
            return False
        last = values[-1]
        if not valid(last):
            return True
        return not (ring.top - last) / (window_s / 2) * 60.0 <= limit

    def may_fire(self, window: StationWindow, now: float) -> int:
        """Bits of the rules that may say FIRE for ``window`` at ``now`` (0: none can)."""
        if now != self._now:
            self._clock(now)
        f = window.fields
        mask = self.always

        if self.b_power and window.flag(self.power_ok) is False:
            mask |= self.b_power

        flow = _num(f.get(self.flow))
        supply = _num(f.get(self.supply))
        if self.b_pump and self._heating_on:
            if window.flag(self.pump_running) is False:
                mask |= self.b_pump
            else:
                ret = _num(f.get(self.return_))
                if flow is not None and supply is not None and ret is not None:
                    floor = (self.flow_min if window.design_flow is None
                             else self.flow_min_share * window.design_flow)
                    if flow < floor and abs(supply - ret) < self.dt_min:
                        mask |= self.b_pump

        if self.b_makeup and flow is not None and flow > 0:
            makeup = _num(f.get(self.makeup_flow))
            if makeup is not None and makeup / flow >= self.makeup_ratio:
                mask |= self.b_makeup

        if self.b_pressure:
            pressure = _num(f.get(self.pressure))
            if pressure is not None and self.pressure_ok(pressure):
                if pressure < self.floor_bar:
                    mask |= self.b_pressure
                elif self._may_fall(window.history.get(self.pressure), self.pressure_window,
                                    self.max_fall_bar, self.pressure_ok):
                    fall = window.fall_rate_per_min(self.pressure, self.pressure_window, now,
                                                    self.pressure_ok)
                    if fall is not None and fall > self.max_fall_bar:
                        mask |= self.b_pressure

        if self.b_tank and self._may_fall(window.history.get(self.tank), self.tank_window,
                                          self.max_tank_fall, self.tank_ok):
            fall = window.fall_rate_per_min(self.tank, self.tank_window, now, self.tank_ok)
            if fall is not None and fall > self.max_tank_fall:
                mask |= self.b_tank

        if self.b_curve and self._heating_on and supply is not None:
            outdoor = _num(f.get(self.outdoor))
            if outdoor is not None:
                setpoint = curve_setpoint(outdoor, self.curve)
                if self._setback:
                    setpoint -= self.heating.setback_k
                if (setpoint - supply > self.tolerance_k and self.outdoor_ok(outdoor)
                        and self.supply_ok(supply)):
                    mask |= self.b_curve

        if self.b_stuck:
            for name in self.stuck_fields:
                state = f.get(name)
                if (state is not None and state.same_count >= self.stuck_samples
                        and state.ts - state.changed_at >= self.stuck_after
                        and not isinstance(state.value, bool | str)):
                    mask |= self.b_stuck
                    break

        if self.b_range:
            for name, lo, hi, check in self.ranges:
                state = f.get(name)
                if state is None:
                    continue
                v = state.value
                if type(v) is float:
                    if lo <= v <= hi:
                        if check and round(v, 3) in self.sentinels:
                            mask |= self.b_range
                            break
                    elif v - v == 0.0:  # finite and out of range (non-finite: no number)
                        mask |= self.b_range
                        break
                    continue
                x = _num(state)
                if x is not None and (round(x, 3) in self.sentinels or not lo <= x <= hi):
                    mask |= self.b_range
                    break

        if self.b_return:
            for sup_name, ret_name in self.pairs:
                sup = _num(f.get(sup_name))
                ret = _num(f.get(ret_name))
                if sup is not None and ret is not None and ret > sup + self.margin_k:
                    mask |= self.b_return
                    break

        return mask
