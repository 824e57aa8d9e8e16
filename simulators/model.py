"""Heat exchange stations, vectorised over the fleet (one numpy array per quantity).

Per step of ``dt`` seconds (see docs/simulators.md for the equations):

* control: supply setpoint from the weather-compensation curve of the (filtered) outdoor
  sensor, minus night setback; the supply temperature follows it with a first-order lag and
  can never exceed what the primary side delivers (primary supply minus HEX approach);
* night shutdown (per-station regime, :mod:`simulators.regimes`): primary valve closed and
  pump stopped, the loop and the stagnant primary pipes cool towards the building; the morning
  restart warms the loop over about an hour, sometimes behind a slug of cold water in the
  primary supply line (primary return above primary supply for a while);
* circulation: flow proportional to pump frequency (affinity law), pressure rise with its
  square; a stopped pump leaves ~1 % creep flow and the loop water stagnates, so supply and
  return converge and both cool towards plant-room temperature;
* heat: the flats' radiators draw ``Q``; return = supply - Q / (c * flow), lagged by the loop's
  transit time; the heat meter integrates ``c * flow * (supply - return)``;
* static pressure: a proportional make-up pump feeds from the tank whatever the loop loses
  (normal losses ~0.1-0.4 % of flow, plus any leak); its capacity (6 % of design flow) and the
  tank (refilled at 3 %) bound what it can hold, after which the pressure collapses and the
  low-pressure interlock stops the circulation pump.

Exponential updates (not Euler) keep the fast make-up loop stable at 10 s steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.flats import K_WATER
from simulators.layout import Layout
from simulators.regimes import Regimes
from simulators.scenario import ControlConfig

__all__ = ["Effects", "StationModel"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
PLANT_ROOM_TEMP = 22.0
LOW_PRESSURE_CUTOUT = 0.5  # bar: dry-run protection of the circulation pump
CREEP_FLOW = 0.01  # fraction of design flow with the pump stopped
# Heat meters read no flow (and no heat) under their minimum flow, ~1/50-1/100 of nominal:
# a stopped pump's creep reads 0, as the real stations' heat power reads 0.0 all night.
METER_CUTOFF = 0.015  # fraction of design flow
MAKEUP_CAPACITY = 0.06  # fraction of design flow
REFILL_CAPACITY = 0.03
TANK_HEIGHT = 2.0
BUILDING_TEMP = 22.0  # what a switched-off loop cools towards (plant room, risers, flats)
# Measured on real stations (docs/simulators.md): a switched-off loop cools with a time
# constant of 2.5-4.5 h, the stagnant primary pipes with ~9 h; after the restart the supply
# takes about an hour to reach its setpoint; a cold slug holds the primary supply low for up
# to ~45 min.
PRIMARY_COOL_TAU_S = 9 * 3600.0
PRIMARY_ARRIVAL_TAU_S = 600.0
WARMUP_S = 2 * 3600.0


@dataclass(slots=True)
class Effects:
    """What the active faults do to the physics this step (one entry per station)."""

    leak: F64  # leak flow as a fraction of design circulating flow
    pump_trip: B
    power_lost: B
    supply_deficit: F64  # K below the curve (stuck valve or too cold primary)
    primary_undertemp: B  # the deficit comes from the primary side, not the valve

    @classmethod
    def none(cls, n: int) -> Effects:
        z = np.zeros(n, bool)
        return cls(np.zeros(n), z, z.copy(), np.zeros(n), z.copy())


def _interp(x: F64 | float, curve: tuple[tuple[float, float], ...]) -> F64:
    xs = [p[0] for p in curve]
    ys = [p[1] for p in curve]
    out: F64 = np.asarray(np.interp(x, xs, ys), dtype=np.float64)
    return out


class StationModel:
    """Parameters and state of every station; ``step`` advances all of them at once."""

    def __init__(
        self,
        layout: Layout,
        control: ControlConfig,
        q_design: F64,
        rng: np.random.Generator,
        regimes: Regimes,
        regime_rng: np.random.Generator,
    ) -> None:
        n = layout.n_stations
        self.n = n
        self.control = control
        self.regimes = regimes
        self._regime_rng = regime_rng
        c = control
        self.curve_offset: F64 = rng.normal(0.0, 1.0, n)
        self.ts_design: F64 = _interp(c.design_outdoor_temp, c.curve) + self.curve_offset
        self.tr_design: F64 = c.design_return_temp + self.curve_offset
        self.q_design: F64 = q_design * 1.03  # 3 % distribution losses
        self.f_design: F64 = self.q_design / (K_WATER * (self.ts_design - self.tr_design))
        self.ntu_design: F64 = np.log(
            (self.ts_design - c.design_indoor_temp) / (self.tr_design - c.design_indoor_temp)
        )
        self.f_nominal: F64 = rng.uniform(38.0, 48.0, n)
        floors = layout.station_floors.astype(np.float64)
        self.p_set: F64 = 1.0 + 0.25 * floors + rng.uniform(0.0, 0.4, n)
        self.dp_pump: F64 = rng.uniform(0.8, 1.6, n)
        volume = 1.0 + 0.15 * np.diff(layout.flat_offsets).astype(np.float64)
        self.elasticity: F64 = 1.0 / (0.005 * volume)  # bar per m3 lost
        self.mu_capacity: F64 = np.maximum(0.3, MAKEUP_CAPACITY * self.f_design)
        self.mu_gain: F64 = self.mu_capacity / 0.6  # full capacity at 0.6 bar below set
        self.normal_loss: F64 = rng.uniform(0.001, 0.004, n)
        self.tank_area: F64 = rng.uniform(1.5, 3.0, n)
        self.refill_capacity: F64 = REFILL_CAPACITY * self.f_design
        self.tps_offset: F64 = rng.uniform(-5.0, 0.0, n)
        self.approach: F64 = rng.uniform(2.0, 5.0, n)
        self.p_primary: F64 = rng.uniform(8.0, 12.0, n)
        self.p_primary_return: F64 = rng.uniform(3.0, 5.0, n)
        self.outdoor_offset: F64 = rng.normal(0.0, 0.7, n)
        # regime parameters come from their own stream: fleets without regimes stay identical
        self.cool_tau: F64 = regime_rng.uniform(2.5, 4.5, n) * 3600.0
        self.off_gap: F64 = regime_rng.uniform(0.5, 2.5, n)  # supply - return while off
        self.restart_tau: F64 = regime_rng.uniform(15.0, 25.0, n) * 60.0
        # state
        self.outdoor: F64 = np.zeros(n)
        self.outdoor_filtered: F64 = np.zeros(n)
        self.setpoint: F64 = self.ts_design.copy()
        self.tps_city = 90.0
        self.tps: F64 = np.full(n, 90.0)
        self.ts: F64 = self.ts_design.copy()
        self.tr: F64 = self.tr_design.copy()
        self.tpr: F64 = self.tr + self.approach
        self.running: B = np.ones(n, bool)
        self.powered: B = np.ones(n, bool)
        self.freq: F64 = self.f_nominal.copy()
        self.flow: F64 = self.f_design.copy()
        self.primary_flow: F64 = np.zeros(n)
        self.heat: F64 = np.zeros(n)
        self.energy: F64 = rng.uniform(1e5, 5e6, n)
        self.pr: F64 = self.p_set.copy()
        self.ps: F64 = self.p_set + self.dp_pump
        self.makeup: F64 = self.normal_loss * self.f_design
        self.level: F64 = rng.uniform(1.45, 1.6, n)
        self.refilling: B = np.zeros(n, bool)
        self.tank_ok: B = np.ones(n, bool)
        self.heating_off: B = np.zeros(n, bool)  # planned night shutdown in force
        self.in_window: B = np.zeros(n, bool)  # inside the off window (off or run through)
        self.through: B = np.zeros(n, bool)  # tonight is run through (too cold to switch off)
        self.since_restart: F64 = np.full(n, np.inf)  # s since the heating came back on
        self.since_off: F64 = np.full(n, np.inf)  # s since the heating was switched off
        self.slug_left: F64 = np.zeros(n)  # s of cold primary supply still to come
        self.slug_temp: F64 = np.full(n, BUILDING_TEMP)

    def setpoint_for(self, outdoor: F64 | float, local_hour: float) -> F64:
        """Weather-compensated supply setpoint (°C), with night setback where configured.

        A switched-off station keeps its curve value: real controllers report the curve's
        setpoint all night while the valve is closed (measured: t_ref within 1 K).
        """
        r = self.regimes
        sp: F64 = _interp(outdoor, self.control.curve) + self.curve_offset + r.curve_shift
        return sp - r.setback(local_hour, self.through)

    def initialise(self, outdoor: float, local_hour: float) -> None:
        """Steady state for this outdoor temperature (before the flats settle)."""
        self.outdoor = outdoor + self.outdoor_offset
        self.outdoor_filtered = self.outdoor.copy()
        self.tps_city = float(_interp(outdoor, self.control.primary_curve))
        self.tps = self.tps_city + self.tps_offset
        self.in_window = self.regimes.in_off_window(local_hour)
        self.through = self.in_window & (self.outdoor_filtered < self.regimes.through_below)
        self.heating_off = self.in_window & ~self.through
        self.setpoint = self.setpoint_for(self.outdoor_filtered, local_hour)
        # The flats (time constants of a day or more) sit at the daily mean, not at the
        # setback: a start inside the setback window must not settle them as if the setback
        # lasted for ever (that left a few % of flats under 18 °C at midnight starts).
        r = self.regimes
        mean_sp = (
            _interp(self.outdoor_filtered, self.control.curve)
            + self.curve_offset
            + r.curve_shift
            - r.mean_setback()
        )
        # A station off at night heats only part of the day: the loop temperature that
        # delivers the same daily heat (radiator exponent 1.3) settles its flats.
        indoor = self.control.design_indoor_temp
        heated = indoor + r.on_fraction() ** (1 / 1.3) * (mean_sp - indoor)
        mean_sp = np.where(r.off, heated, mean_sp)
        self.ts = np.minimum(mean_sp, self.tps - 3.0)
        load = (self.control.design_indoor_temp - outdoor) / (
            self.control.design_indoor_temp - self.control.design_outdoor_temp
        )
        self.tr = self.ts - (self.ts_design - self.tr_design) * max(load, 0.05)
        self.tpr = self.tr + self.approach

    def mean_temp(self) -> F64:
        out: F64 = (self.ts + self.tr) / 2
        return out

    def flow_ratio(self) -> F64:
        out: F64 = self.flow / self.f_design
        return out

    def control_step(
        self, dt: float, outdoor: float, local_hour: float, fx: Effects, rng: np.random.Generator
    ) -> None:
        """Outdoor sensor, setpoint, pumps and supply temperature."""
        c = self.control
        self.outdoor = outdoor + self.outdoor_offset
        a = 1.0 - np.exp(-dt / c.outdoor_filter_s)
        self.outdoor_filtered += a * (self.outdoor - self.outdoor_filtered)
        # The utility steers primary supply from the city's outdoor temperature, slowly.
        target_city = float(_interp(outdoor, c.primary_curve))
        self.tps_city += (1.0 - np.exp(-dt / 7200.0)) * (target_city - self.tps_city)
        self._night_step(dt, local_hour)
        self.setpoint = self.setpoint_for(self.outdoor_filtered, local_hour)
        tps = self.tps_city + self.tps_offset
        if self.regimes.off.any():
            tps = self._primary_supply(dt, tps)
        self.tps = tps
        # Too cold a primary caps the secondary supply at primary minus the HEX approach.
        starved = self.setpoint - fx.supply_deficit + 3.0
        self.tps = np.where(fx.primary_undertemp, np.minimum(self.tps, starved), self.tps)
        self.powered = ~fx.power_lost
        self.running = (
            self.powered
            & ~fx.pump_trip
            & (self.pr > LOW_PRESSURE_CUTOUT)
            & ~self.heating_off
        )
        drift = 1.0 + 0.004 * rng.standard_normal(self.n)
        self.freq = np.where(self.running, self.f_nominal * drift, 0.0)
        self.flow = np.where(
            self.running, self.f_design * self.freq / self.f_nominal, CREEP_FLOW * self.f_design
        )
        target = np.minimum(self.setpoint - fx.supply_deficit, self.tps - 3.0)
        target = np.where(self.running, target, PLANT_ROOM_TEMP)
        tau = np.where(self.running, c.lag_s, 3600.0)
        if self.regimes.off.any():
            # switched off: the loop cools towards the building, the first hour three times
            # faster (the plant-room pipes around the sensors); warming up after the restart:
            # the controller opens the primary valve gradually (about an hour to setpoint)
            target = np.where(self.heating_off, BUILDING_TEMP, target)
            cool = np.where(self.since_off < 3600.0, self.cool_tau / 3.0, self.cool_tau)
            tau = np.where(self.heating_off, cool, tau)
            warming = (self.since_restart < WARMUP_S) & (self.ts < target - 1.0)
            tau = np.where(warming & self.running, self.restart_tau, tau)
        self.ts += (1.0 - np.exp(-dt / tau)) * (target - self.ts)
        self.ts += 0.03 * rng.standard_normal(self.n)

    def _night_step(self, dt: float, local_hour: float) -> None:
        """Planned night shutdown: who is off now, who just restarted (and behind a cold
        slug in the primary supply line or not)."""
        r = self.regimes
        if not r.off.any():
            return
        window = r.in_off_window(local_hour)
        # the controller decides at the window's start whether tonight is too cold to switch off
        starting = window & ~self.in_window
        cold = self.outdoor_filtered < r.through_below
        self.through = np.where(starting, cold, self.through) & window
        self.in_window = window
        off = window & ~self.through
        restarted = np.flatnonzero(self.heating_off & ~off)
        self.since_off = np.where(off & ~self.heating_off, 0.0, self.since_off + dt)
        self.heating_off = off
        self.since_restart += dt
        self.slug_left = np.maximum(self.slug_left - dt, 0.0)
        if restarted.size:
            g = self._regime_rng
            self.since_restart[restarted] = 0.0
            slug = g.random(restarted.size) < r.inversion_p[restarted]
            self.slug_left[restarted] = np.where(slug, g.uniform(10.0, 45.0, slug.size) * 60, 0)
            self.slug_temp[restarted] = g.uniform(20.0, 28.0, restarted.size)

    def _primary_supply(self, dt: float, live: F64) -> F64:
        """Primary supply at the station's sensor: the network's value while the valve is
        open; with it closed the stagnant pipe cools; after the restart a slug of cold
        water may come first, then the hot water arrives within minutes."""
        cool = 1.0 - np.exp(-dt / PRIMARY_COOL_TAU_S)
        arrive = 1.0 - np.exp(-dt / PRIMARY_ARRIVAL_TAU_S)
        slug = self.slug_left > 0
        recovering = self.since_restart < WARMUP_S
        out: F64 = np.where(
            self.heating_off,
            self.tps + cool * (BUILDING_TEMP - self.tps),
            np.where(
                slug,
                self.tps + (1.0 - np.exp(-dt / 60.0)) * (self.slug_temp - self.tps),
                np.where(recovering, self.tps + arrive * (live - self.tps), live),
            ),
        )
        return out

    def heat_step(self, dt: float, drawn: F64, fx: Effects) -> None:
        """Return temperature, heat meter, primary side, static pressure and tank."""
        q_loop = drawn * 1.03
        tr_target = np.where(
            self.running, self.ts - q_loop / (K_WATER * self.flow), self.ts - 0.2
        )
        tau_r = np.where(self.running, 600.0, 900.0)
        off = self.heating_off
        if self.regimes.off.any():
            tr_target = np.where(off, self.ts - self.off_gap, tr_target)
            tau_r = np.where(off, 120.0, tau_r)
        self.tr += (1.0 - np.exp(-dt / tau_r)) * (tr_target - self.tr)
        heat = np.maximum(K_WATER * self.flow * (self.ts - self.tr), 0.0)
        # primary valve closed, or flow under the meter's minimum: the meter sees nothing
        self.heat = np.where(off | (self.flow < METER_CUTOFF * self.f_design), 0.0, heat)
        self.energy += self.heat * dt / 3600.0
        load = self.heat / self.q_design
        tpr_run = np.minimum(self.tr + self.approach * (0.3 + 0.7 * load), self.tps - 2.0)
        tpr_target = np.where(self.running, tpr_run, self.ts)
        tau_pr = np.full(self.n, 300.0)
        if self.regimes.off.any():
            # Off: the primary return sensor sits in stagnant water that cools slowly. Behind
            # a cold slug it stays warm while the supply sensor sees the cold water.
            tpr_target = np.where(off, BUILDING_TEMP, tpr_target)
            tau_pr = np.where(off, PRIMARY_COOL_TAU_S, tau_pr)
            tpr_target = np.where(self.slug_left > 0, self.tpr, tpr_target)
        self.tpr += (1.0 - np.exp(-dt / tau_pr)) * (tpr_target - self.tpr)
        # A fully open primary valve passes at most ~1.6x the design primary flow.
        fp_max = 1.6 * self.q_design / (K_WATER * 50.0)
        fp = self.heat / 0.98 / (K_WATER * np.maximum(self.tps - self.tpr, 2.0))
        self.primary_flow = np.where(
            self.running, np.minimum(fp, fp_max), 0.0  # no heat drawn: under the meter's minimum
        )
        self._pressure_step(dt, fx)

    def _pressure_step(self, dt: float, fx: Effects) -> None:
        rel = np.sqrt(np.clip(self.pr / self.p_set, 0.0, 1.5))
        loss = (self.normal_loss + fx.leak) * self.f_design * rel
        # Dry-run lockout with hysteresis: off below 5 cm, back on above 30 cm.
        self.tank_ok = np.where(
            self.level < 0.05, False, np.where(self.level > 0.3, True, self.tank_ok)
        )
        cap = np.where(self.tank_ok & self.powered, self.mu_capacity, 0.0)
        holds = loss <= cap
        # Within capacity the proportional make-up loop settles exponentially on its droop.
        p_eq = self.p_set - loss / self.mu_gain
        decay = np.exp(-dt * self.elasticity * self.mu_gain / 3600.0)
        p_held = p_eq + (self.pr - p_eq) * decay
        p_lost = self.pr + self.elasticity * (cap - loss) * dt / 3600.0
        self.pr = np.maximum(np.where(holds, p_held, p_lost), 0.0)
        self.makeup = np.where(
            holds, np.clip(self.mu_gain * (self.p_set - self.pr), 0.0, cap), cap
        )
        self.refilling = np.where(
            self.level < 1.4, True, np.where(self.level > 1.6, False, self.refilling)
        )
        refill = np.where(self.refilling, self.refill_capacity, 0.0)
        self.level = np.clip(
            self.level + (refill - self.makeup) * dt / 3600.0 / self.tank_area, 0.0, TANK_HEIGHT
        )
        boost = np.where(self.running, self.dp_pump * (self.freq / self.f_nominal) ** 2, 0.0)
        self.ps = self.pr + boost

    def readings(self, rng: np.random.Generator) -> dict[str, F64]:
        """Sensor values of every station (noise added; faults are applied by the caller)."""
        n = self.n

        def noisy(x: F64, sd: float) -> F64:
            out: F64 = x + sd * rng.standard_normal(n)
            return out

        return {
            "supply_temp": noisy(self.ts, 0.05),
            "return_temp": noisy(self.tr, 0.05),
            "primary_supply_temp": noisy(self.tps, 0.1),
            "primary_return_temp": noisy(self.tpr, 0.1),
            "supply_pressure": noisy(self.ps, 0.005),
            "return_pressure": noisy(self.pr, 0.005),
            "primary_supply_pressure": noisy(self.p_primary, 0.02),
            "primary_return_pressure": noisy(self.p_primary_return, 0.02),
            "flow": np.where(
                self.flow < METER_CUTOFF * self.f_design,
                0.0,
                np.maximum(self.flow * (1 + 0.003 * rng.standard_normal(n)), 0.0),
            ),
            "primary_flow": np.maximum(self.primary_flow * (1 + 0.005 * rng.standard_normal(n)), 0),
            "makeup_flow": np.maximum(self.makeup * (1 + 0.05 * rng.standard_normal(n)), 0.0),
            "tank_level": noisy(self.level, 0.003),
            "pump_freq": self.freq.copy(),
            "heat_power": self.heat.copy(),
            "heat_energy": self.energy.copy(),
            "outdoor_temp": noisy(self.outdoor, 0.1),
            # the controller's own target, as it reports it (0.1 K resolution, no noise)
            "supply_setpoint": np.round(self.setpoint, 1),
        }
