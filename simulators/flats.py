"""Flats: one RC node each, heated by radiators fed from their station's secondary loop.

    C dTi/dt = Q_rad + Q_gain - UA (Ti - To)
    Q_rad    = q_design * ((Tm - Ti) / dTm_design)^1.3 * g(flow / design flow)

``Tm`` is the station's mean loop temperature (supply + return) / 2 and ``g`` the radiator's
flow characteristic, so a stopped pump starves every flat at once. Top-floor and gable-end
flats lose more heat through roof and end wall (``UA`` multiplied), which is why they settle
1-3 K colder with the same radiators, as crews see in practice. Each flat's sensor has its own
bias and noise: detection must cope with a flat that always reads 0.8 K high.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulators.layout import Layout
from simulators.scenario import ControlConfig, FleetConfig

__all__ = ["RADIATOR_EXPONENT", "FlatModel", "flow_factor"]

F64 = npt.NDArray[np.float64]
K_WATER = 1.163  # kWh per m3 per K
RADIATOR_EXPONENT = 1.3
GAIN_FRACTION = 0.08  # internal gains (people, appliances) relative to design heat
TOP_FLOOR_LOSS = 1.12
GABLE_END_LOSS = 1.10
CORNER_LOSS = 1.18  # top floor and gable end together
RADIATOR_MARGIN = 1.15


def flow_factor(ratio: F64, ntu_design: F64) -> F64:
    """Radiator output relative to design at ``ratio`` of design flow (exponential model)."""
    r = np.maximum(ratio, 1e-4)
    return r * (1.0 - np.exp(-ntu_design / r)) / (1.0 - np.exp(-ntu_design))


class FlatModel:
    """All flats of the fleet in flat arrays; ``station`` maps each flat to its station."""

    def __init__(
        self, layout: Layout, fleet: FleetConfig, control: ControlConfig, rng: np.random.Generator
    ) -> None:
        n = layout.n_flats
        self.station = layout.flat_station
        self.n_stations = layout.n_stations
        lo, hi = fleet.heat_per_flat_kw
        self.q_design: F64 = rng.uniform(lo, hi, n)
        self.gain: F64 = GAIN_FRACTION * self.q_design
        loss = np.where(layout.flat_top, TOP_FLOOR_LOSS, 1.0)
        loss = np.where(layout.flat_gable, GABLE_END_LOSS, loss)
        loss = np.where(layout.flat_top & layout.flat_gable, CORNER_LOSS, loss)
        # Radiators are sized so that a middle flat holds the design indoor temperature at the
        # design outdoor temperature; the larger losses of exposed flats are not compensated.
        span = control.design_indoor_temp - control.design_outdoor_temp
        # Designers round radiators up (~10 %), so a middle flat runs a little above design.
        design_loss = self.q_design / RADIATOR_MARGIN + self.gain
        self.ua: F64 = design_loss / span * loss * rng.normal(1.0, 0.04, n)
        tlo, thi = fleet.flat_time_constant_h
        self.capacity: F64 = self.ua * rng.uniform(tlo, thi, n)  # kWh/K
        xs = [p[0] for p in control.curve]
        ys = [p[1] for p in control.curve]
        design_supply = float(np.interp(control.design_outdoor_temp, xs, ys))
        mean_design = (design_supply + control.design_return_temp) / 2
        self.dtm_design = mean_design - control.design_indoor_temp
        self.riser_loss: F64 = 0.4 + 0.12 * layout.flat_floor.astype(np.float64)
        self.bias: F64 = rng.normal(0.0, 0.4, n)
        self.noise: F64 = rng.uniform(0.03, 0.25, n)
        self.humidity_base: F64 = rng.uniform(22.0, 42.0, n)
        self.indoor: F64 = np.full(n, control.design_indoor_temp)
        self.heat: F64 = np.zeros(n)  # kW delivered in the last step
        self.energy: F64 = rng.uniform(2_000.0, 40_000.0, n)  # kWh on the flat's meter
        station_q = np.bincount(self.station, weights=self.q_design, minlength=self.n_stations)
        self.station_q_design: F64 = station_q.astype(np.float64)
        self.share: F64 = self.q_design / station_q[self.station]

    def radiator_heat(self, mean_temp: F64, flow_ratio: F64, ntu_design: F64) -> F64:
        """kW into each flat for the stations' mean loop temperature and relative flow."""
        s = self.station
        excess = np.maximum(mean_temp[s] - self.indoor, 0.0) / self.dtm_design
        g = flow_factor(flow_ratio, ntu_design)[s]
        heat: F64 = self.q_design * excess**RADIATOR_EXPONENT * g
        return heat

    def step(self, dt: float, outdoor: F64, heat: F64) -> F64:
        """Advance indoor temperatures by ``dt`` s; returns the heat drawn per station (kW)."""
        self.heat = heat
        loss = self.ua * (self.indoor - outdoor[self.station])
        self.indoor += dt / 3600.0 * (heat + self.gain - loss) / self.capacity
        self.energy += heat * dt / 3600.0
        drawn = np.bincount(self.station, weights=heat, minlength=self.n_stations)
        return drawn.astype(np.float64)

    def settle(self, mean_temp: F64, flow_ratio: F64, ntu_design: F64, outdoor: F64) -> None:
        """Put every flat at its steady state for fixed loop temperatures (Newton iterations),
        so a run starts in equilibrium instead of spending simulated days warming up."""
        s = self.station
        g = flow_factor(flow_ratio, ntu_design)[s]
        to = outdoor[s]
        ti = self.indoor
        for _ in range(12):
            excess = np.maximum(mean_temp[s] - ti, 1e-3) / self.dtm_design
            rad = self.q_design * g * excess**RADIATOR_EXPONENT
            f = rad + self.gain - self.ua * (ti - to)
            dfdt = -RADIATOR_EXPONENT * rad / (excess * self.dtm_design) - self.ua
            ti = ti - f / dfdt
        self.indoor = ti

    def readings(
        self, idx: npt.NDArray[np.int64], supply: F64, flow: F64, rng: np.random.Generator
    ) -> dict[str, npt.NDArray[np.float64]]:
        """What the flats ``idx`` report: indoor sensor with bias/noise plus the heat meter."""
        s = self.station[idx]
        ti = self.indoor[idx]
        indoor = ti + self.bias[idx] + rng.standard_normal(idx.size) * self.noise[idx]
        humidity = self.humidity_base[idx] + 1.5 * (ti - 21.0) + rng.normal(0.0, 0.8, idx.size)
        f_supply = supply[s] - self.riser_loss[idx]
        f_flow = np.maximum(flow[s] * self.share[idx], 1e-6)
        f_return = np.maximum(f_supply - self.heat[idx] / (K_WATER * f_flow), ti)
        return {
            "indoor_temp": np.clip(indoor, -30.0, 60.0),
            "humidity": np.clip(humidity, 5.0, 95.0),
            "supply_temp": f_supply,
            "return_temp": f_return,
            "flow": f_flow,
            "heat_energy": self.energy[idx],
        }
