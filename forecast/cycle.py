"""The forecast cycle in the running alerts service: every ``model.cycle_s``, predict every
fitted flat from what the engine knows now, hand the risks to ``cold_predicted`` and store the
predictions (``indoor_forecast``, ``indoor_forecast_flat``) for Grafana and the API.

What the engine knows now (its :class:`~alerts.fleet.FleetState`, copied by
:meth:`ForecastCycle.snapshot` in the engine's thread between evaluations;
:meth:`ForecastCycle.compute` then works on the copy in the service's forecast thread): each
flat's latest indoor reading,
each station's latest supply and outdoor temperature and whether it delivers heat. The
station's offset from its curve reference is smoothed over cycles (an exponential mean over
about a day of delivering cycles), as bench/forecast_bench.py measures it over the last day.

The models file is reloaded when ``heatwatch forecast fit`` (or the service's own refit,
:class:`Refitter`, in its own thread: it reads InfluxDB only) replaces it.

Measurements (docs/forecast.md):

* ``indoor_forecast``, tags ``zone``, ``lead`` (``1h`` .. ``12h``), time = the target time:
  fields ``median_c``, ``p10_c``, ``min_c``, ``share_below`` (of the zone's predicted flats
  under the standard), ``flats``, ``issued_at``;
* ``indoor_forecast_flat``, tags ``zone``, ``station``, ``meter``, time = the issue time, only
  flats at risk (``p_below`` >= 0.2): ``min_c``, ``min_at``, ``below_at`` (0: none),
  ``p_below``, ``now_c``, ``sigma_c``, ``action``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alerts.config import RulesConfig
from alerts.fleet import FleetState
from alerts.history import HistorySource, HistoryUnavailable
from alerts.rules.cold_predicted import COLD_PREDICTED, Cycle
from alerts.rules.regime import curve_reference
from forecast.history import learned_run_through, read_fit_input
from forecast.predict import StationNow, plan_stations, predict
from forecast.risk import FlatRisk, ZoneRisk
from forecast.settings import ModelSettings
from forecast.summary import RiskSettings, summarise
from forecast.thermal import FitOptions, Models, fit, load_models, save_models
from forecast.weather import ForecastBook
from heatwatch.lineproto import escape_string_value, escape_tag

__all__ = ["ForecastCycle", "Refitter", "Snapshot", "lines"]

log = logging.getLogger(__name__)
OFFSET_WEIGHT = 1.0 / 96.0  # per delivering cycle: about a day of 15-minute cycles
RISK_LINE_P = 0.2
LEADS_H = tuple(range(1, 13))
RETRY_S = 10.0


class ForecastCycle:
    """Predict, summarise and store; :meth:`run` is called by the service's main loop."""

    def __init__(self, settings: ModelSettings, rules: RulesConfig, book: ForecastBook,
                 write: Callable[[list[str]], object] | None = None) -> None:
        self.settings = settings
        self.rules = rules
        self.book = book
        self.write = write
        self.models: Models | None = None
        self._mtime: float | None = None
        self._offsets: dict[str, float] = {}
        self.next_at = 0.0
        self.last: Cycle | None = None

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def _load(self) -> Models | None:
        path = self.settings.path
        try:
            mtime = path.stat().st_mtime
        except OSError:
            if self.models is None:
                log.warning("forecast: no models file %s yet (heatwatch forecast fit)", path)
            return self.models
        if mtime != self._mtime:
            try:
                self.models = load_models(path)
            except ValueError as exc:
                log.error("forecast: %s; keeping the models loaded before", exc)
            self._mtime = mtime
        return self.models

    def run(self, now: float, fleet: FleetState) -> Cycle | None:
        """One cycle at ``now`` in one go (tests; the service splits it: :meth:`snapshot` in
        the engine's thread, :meth:`compute` in its own)."""
        snap = self.snapshot(now, fleet)
        return None if snap is None else self.compute(snap)

    def snapshot(self, now: float, fleet: FleetState) -> Snapshot | None:
        """What the cycle needs from the engine's fleet, copied (O(flats), in the engine's
        thread); None without models or without any flat's temperature (then tried again in
        ``RETRY_S``: after a start the flats report within minutes)."""
        self.next_at = now + min(RETRY_S, self.settings.cycle_s)
        models = self._load()
        if models is None or not len(models):
            return None
        start = np.full(len(models), np.nan)
        for i, (st, meter, zone) in enumerate(zip(models.station, models.meter, models.zone,
                                                  strict=True)):
            agg = fleet.zones.get(zone)
            per = agg.temps.get(st) if agg is not None else None
            if per is not None and meter in per:
                start[i] = per[meter]
        if not np.isfinite(start).any():
            return None
        self.next_at = now + self.settings.cycle_s
        names = self.rules.fields
        stations: dict[str, StationSeen] = {}
        for st in sorted(set(models.station)):
            w = fleet.windows.get(st)
            stations[st] = StationSeen(
                zone=w.zone if w is not None else "",
                outdoor=w.number(names.outdoor_temp) if w is not None else None,
                supply=w.number(names.supply_temp) if w is not None else None,
                delivering=bool(w is not None and w.delivering))
        return Snapshot(now, models, start, stations)

    def compute(self, snap: Snapshot) -> Cycle | None:
        """Predict, summarise and write (any thread: it reads only the snapshot, the rules,
        the thread-safe forecast book, and the offsets only it keeps)."""
        now, models, start = snap.now, snap.models, snap.start
        stations = list(snap.stations)
        row = {s: i for i, s in enumerate(stations)}
        now_list = [self._station(now, s, snap.stations[s], models) for s in stations]

        def outdoor_at(zone: str, t: float) -> float | None:
            f = self.book.latest(zone)
            return None if f is None else f.at(t)

        plan = plan_stations(now_list, now, outdoor_at, self.settings.horizon_s,
                             self.settings.step_s)
        station_row = np.array([row[s] for s in models.station], dtype=np.int64)
        known = np.isfinite(start)
        pred = predict(models, station_row, np.where(known, start, 0.0), plan)
        pred.temps[~known] = np.nan
        pred.start = start

        def settings_for(zone: str) -> RiskSettings:
            rs = self.rules.params_for(zone)
            p = COLD_PREDICTED.params(rs)
            return RiskSettings(min_duration_s=p.min_duration_s,
                                min_probability=p.min_probability, share=p.share,
                                max_raise_k=p.max_raise_k, raise_step_k=p.raise_step_k,
                                timezone=rs.heating.timezone)

        flats, zones = summarise(pred, settings_for)
        flats = [f for f in flats if math.isfinite(f.now_c)]
        cycle = Cycle(issued_at=now, zones=tuple(zones), flats=tuple(flats))
        self.last = cycle
        if self.write is not None and self.settings.write_predictions:
            self.write(lines(now, pred.ends, pred.temps, models.zone, plan.standard[station_row],
                             zones, flats))
        return cycle

    def _station(self, now: float, station: str, seen: StationSeen,
                 models: Models) -> StationNow:
        rs = self.rules.params_for(seen.zone, station)
        offset = self._offsets.get(station, 0.0)
        if seen.delivering and seen.supply is not None and seen.outdoor is not None:
            measured = seen.supply - curve_reference(now, seen.outdoor, rs)[0]
            offset = (measured if station not in self._offsets
                      else offset + OFFSET_WEIGHT * (measured - offset))
            self._offsets[station] = offset
        through = models.run_through.get(station)
        if through is None and rs.heating.off_windows:
            through = self.settings.run_through_below_c  # not learned: what was configured
        return StationNow(station, seen.zone, rs, offset, seen.outdoor, through)


@dataclass(frozen=True, slots=True)
class StationSeen:
    """A station as the engine saw it at the snapshot."""

    zone: str
    outdoor: float | None
    supply: float | None
    delivering: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one cycle reads from the engine, copied in the engine's thread."""

    now: float
    models: Models
    start: np.ndarray  # each model flat's latest reading (NaN: none)
    stations: dict[str, StationSeen]


def lines(issued: float, ends: np.ndarray, temps: np.ndarray, zone_of: Sequence[str],
          standard: np.ndarray, zones: Sequence[ZoneRisk], flats: Sequence[FlatRisk]
          ) -> list[str]:
    """Line protocol of one cycle (see the module docstring)."""
    out: list[str] = []
    step_s = float(ends[1] - ends[0]) if ends.size > 1 else 3600.0
    zone_arr = np.asarray(zone_of)
    for z in zones:
        members = np.flatnonzero(zone_arr == z.zone)
        for h in LEADS_H:
            k = round(h * 3600.0 / step_s) - 1
            if not 0 <= k < ends.size:
                continue
            col = temps[members, k]
            ok = np.isfinite(col)
            if not ok.any():
                continue
            vals = col[ok]
            below = float((vals < standard[members[ok], k]).mean())
            out.append(
                f"indoor_forecast,zone={escape_tag(z.zone)},lead={h}h "
                f"median_c={float(np.median(vals)):.3f},p10_c={float(np.percentile(vals, 10)):.3f},"
                f"min_c={float(vals.min()):.3f},share_below={below:.4f},flats={vals.size}i,"
                f"issued_at={issued:.0f} {int(ends[k] * 1e9)}")
    for f in flats:
        if f.p_below < RISK_LINE_P:
            continue
        out.append(
            f"indoor_forecast_flat,zone={escape_tag(f.zone)},station={escape_tag(f.station)},"
            f"meter={escape_tag(f.meter)} min_c={f.min_c:.3f},min_at={f.min_at:.0f},"
            f"below_at={f.below_at or 0:.0f},p_below={f.p_below:.4f},now_c={f.now_c:.3f},"
            f"sigma_c={f.sigma_c:.3f},action={escape_string_value(f.action or '')} "
            f"{int(issued * 1e9)}")
    return out


class Refitter:
    """Refits the models from InfluxDB every ``refit_every_s`` in its own thread (it reads
    InfluxDB and writes the models file only; the cycle picks the new file up)."""

    def __init__(self, settings: ModelSettings, rules: RulesConfig,
                 source: Callable[[], HistorySource]) -> None:
        self.settings = settings
        self.rules = rules
        self.source = source

    def refit(self, now: float) -> Models | None:
        s = self.settings
        src = self.source()
        try:
            data = read_fit_input(src, self.rules, now - s.fit_days * 86400.0, now)
        except HistoryUnavailable as exc:
            log.error("forecast refit: InfluxDB: %s (keeping the old models)", exc)
            return None
        finally:
            src.close()
        models = fit(data.flats, data.indoor, data.stations, data.drive, FitOptions())
        models.run_through = learned_run_through(data, self.rules)
        if not len(models):
            log.warning("forecast refit: no flat could be fitted (keeping the old models)")
            return None
        save_models(models, Path(s.path))
        log.info("forecast refit: %d flats fitted, %d refused", len(models),
                 len(models.refused))
        return models

    def run(self, clock: Callable[[], float], stop: threading.Event) -> None:
        """Refit at once when no models file exists, then every ``refit_every_s``."""
        every = self.settings.refit_every_s
        if every <= 0:
            return
        wait = 0.0 if not Path(self.settings.path).exists() else every
        while not stop.wait(wait):
            started = time.monotonic()
            self.refit(clock())
            wait = max(every - (time.monotonic() - started), 1.0)
