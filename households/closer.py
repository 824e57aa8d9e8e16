"""Closing local days: the alert engine's hook that writes ``comfort_day`` as days end.

Every zone's day ends at its own local midnight (the zone's ``heating.timezone``). Some
``grace_s`` later, when late readings have landed, the day's ledger is computed from the stored
readings (:func:`households.compute.day_rows`, the report's code) and written. The work runs
in its own thread of the alert service and only reads and writes InfluxDB, so a slow query
never delays an evaluation and the engine's state is never touched.

No state of its own: after a start the last ``catch_up_days`` closed days are computed again
(points with the same series and time overwrite), so a restart at 00:10 loses no day. A day
that failed (InfluxDB down) is retried at the next check while it is within the catch-up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.config import RulesConfig
from heatwatch.registry import Registry
from households.compute import Query, Write, day_rows, write_rows, zone_timezone, zones_of
from households.config import ComfortConfig, DayCloseSettings
from households.ledger import day_bounds

__all__ = ["DayCloser"]

log = logging.getLogger(__name__)
EPOCH_2000 = 946684800.0


class DayCloser:
    def __init__(self, query: Query, write: Write, registry: Registry, rules: RulesConfig,
                 cfg: ComfortConfig, settings: DayCloseSettings,
                 errors: tuple[type[Exception], ...] = ()) -> None:
        """``errors``: what ``query``/``write`` raise when InfluxDB cannot answer; such a day
        is logged and retried, anything else is a bug and propagates."""
        self.query, self.write = query, write
        self.registry, self.rules, self.cfg, self.settings = registry, rules, cfg, settings
        self.errors = errors
        self.done: set[tuple[str, date]] = set()
        self.failures = 0

    def due(self, now: float, zones: list[str]) -> list[tuple[str, date]]:
        """(zone, day) closed at least ``grace_s`` ago, within the catch-up, not yet done;
        oldest first."""
        out: list[tuple[str, date]] = []
        for zone in zones:
            tz = ZoneInfo(zone_timezone(self.rules, zone))
            today = datetime.fromtimestamp(now - self.settings.grace_s, tz).date()
            for back in range(self.settings.catch_up_days, 0, -1):
                day = today - timedelta(days=back)
                if (zone, day) not in self.done and day_bounds(day, tz)[1] <= now:
                    out.append((zone, day))
        out.sort(key=lambda zd: (zd[1], zd[0]))
        return out

    def tick(self, now: float) -> int:
        """Close every due day; returns the points written."""
        if now < EPOCH_2000:
            return 0  # event time that has not started yet (clock: event)
        try:
            zones = zones_of(self.query, self.registry)
        except self.errors as exc:
            self._failed("listing zones", exc)
            return 0
        written = 0
        for zone, day in self.due(now, zones):
            try:
                rows = day_rows(self.query, self.registry, self.rules, self.cfg, zone, day)
                written += write_rows(self.write, rows, self.cfg.ledger.standard_c)
            except self.errors as exc:
                self._failed(f"zone {zone} day {day}", exc)
                continue
            self.done.add((zone, day))
            log.info("comfort ledger: zone %s day %s closed (%d flats)", zone, day, len(rows))
        # forget what fell out of the catch-up window (with a day's margin for time zones)
        cutoff = datetime.fromtimestamp(now, UTC).date() - timedelta(
            days=self.settings.catch_up_days + 2)
        self.done = {(z, d) for z, d in self.done if d >= cutoff}
        return written

    def _failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        log.warning("comfort ledger: %s failed, retried at the next check: %s", what, exc)

    def run(self, clock: Callable[[], float], stop: threading.Event) -> None:
        """Check every ``check_interval_s`` until ``stop`` is set (the service's thread)."""
        while not stop.is_set():
            self.tick(clock())
            stop.wait(self.settings.check_interval_s)
