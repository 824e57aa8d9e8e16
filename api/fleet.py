"""The fleet snapshot: every station's status, last reading and open alerts, cached.

The station list must answer for 20,000 stations in well under 300 ms, and an operator page
polls it. So one InfluxQL request (:data:`api.queries.FLEET_QUERY`) plus one SQLite read build
a snapshot of the whole fleet, which serves every client for ``cache.fleet_ttl_s`` seconds;
concurrent requests during a refresh wait for that one refresh instead of starting their own.
The unfiltered list is also kept pre-serialised, so the common request is a memory copy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import orjson

from alerts.model import Alert, AlertState, Severity
from api.alertsdb import AlertsDb
from api.config import CacheSettings
from api.influx import InfluxQL
from api.queries import FLEET_QUERY
from heatwatch.registry import UNASSIGNED_ZONE, Registry

__all__ = ["Fleet", "Snapshot"]

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(slots=True)
class Snapshot:
    taken_at: float
    stations: dict[str, dict[str, Any]]  # id -> StationSummary-shaped dict, registry order
    alerts: dict[str, list[Alert]] = field(default_factory=dict)  # open alerts per station
    _all_json: bytes | None = None

    def page(self, zone: str | None, status: str | None, limit: int, offset: int) -> bytes:
        """A StationList body as JSON; the unfiltered first page is serialised once."""
        full = zone is None and status is None and offset == 0 and limit >= len(self.stations)
        if full and self._all_json is not None:
            return self._all_json
        items = [
            s for s in self.stations.values()
            if (zone is None or s["zone"] == zone) and (status is None or s["status"] == status)
        ]
        body = orjson.dumps({
            "total": len(items),
            "as_of": datetime.fromtimestamp(self.taken_at, UTC),
            "items": items[offset:offset + limit],
        })
        if full:
            self._all_json = body
        return body


class Fleet:
    """Builds and caches :class:`Snapshot`; ``clock`` is injectable for tests."""

    def __init__(
        self,
        influx: InfluxQL,
        alerts: AlertsDb,
        registry: Registry,
        cache: CacheSettings,
        *,
        clock: Callable[[], float] = time.time,
        on_cache: Callable[[bool], None] | None = None,
    ) -> None:
        self.influx, self.alerts, self.registry, self.cache = influx, alerts, registry, cache
        self.clock = clock
        self._on_cache = on_cache
        self._snapshot: Snapshot | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _refresh_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is not None and self.clock() - snap.taken_at < self.cache.fleet_ttl_s:
            self._count(hit=True)
            return snap
        async with self._refresh_lock():
            snap = self._snapshot  # someone else may have refreshed while we waited
            if snap is None or self.clock() - snap.taken_at >= self.cache.fleet_ttl_s:
                self._count(hit=False)
                snap = self._snapshot = await self._build()
            else:
                self._count(hit=True)
            return snap

    def _count(self, *, hit: bool) -> None:
        if self._on_cache is not None:
            self._on_cache(hit)

    async def _build(self) -> Snapshot:
        now = self.clock()
        since_ns = int((now - self.cache.lookback_s) * 1e9)
        last_all, last_time, status = await self.influx.query(FLEET_QUERY, {"since": since_ns})
        open_alerts = await anyio.to_thread.run_sync(self.alerts.open_alerts)

        values: dict[str, dict[str, Any]] = {}
        for s in last_all:
            row = s.values[0] if s.values else []
            values[s.tags.get("station", "")] = {
                col.removeprefix("last_"): v
                for col, v in zip(s.columns, row, strict=False)
                if col != "time"
            }
        seen_ms = {s.tags.get("station", ""): s.values[0][0] for s in last_time if s.values}
        state = {
            s.tags.get("station", ""): (s.values[0][1], s.values[0][0])
            for s in status if s.values
        }
        by_station: dict[str, list[Alert]] = {}
        for a in open_alerts:
            if a.station is not None:
                by_station.setdefault(a.station, []).append(a)

        ids = [st.id for st in self.registry]
        known = set(ids)
        ids += sorted(sid for sid in seen_ms.keys() | values.keys() if sid not in known)
        stations = {
            sid: self._summary(sid, now, values.get(sid, {}), seen_ms.get(sid), state.get(sid),
                               by_station.get(sid, []))
            for sid in ids
        }
        return Snapshot(taken_at=now, stations=stations, alerts=by_station)

    def _summary(
        self, sid: str, now: float, last: dict[str, Any], seen_ms: int | None,
        state: tuple[str, int] | None, alerts: list[Alert],
    ) -> dict[str, Any]:
        info = self.registry.get(sid)
        interval = info.report_interval_s if info else 10.0
        timeout = max(self.cache.offline_intervals * interval, self.cache.offline_min_s)
        if seen_ms is None or now - seen_ms / 1000 > timeout:
            status = "offline"
        elif state is not None and state[0] == "offline" and state[1] >= seen_ms:
            status = "offline"  # the station (or its last will) said so after its last reading
        elif any(a.state is AlertState.FIRING for a in alerts):
            status = "alerting"
        else:
            status = "online"
        worst = max(alerts, key=lambda a: _SEVERITY_RANK[a.severity], default=None)
        return {
            "id": sid,
            "name": info.name if info else "",
            "zone": info.zone if info else UNASSIGNED_ZONE,
            "status": status,
            "last_seen": None if seen_ms is None else datetime.fromtimestamp(seen_ms / 1000, UTC),
            "last": last,
            "active_alerts": len(alerts),
            "worst_severity": worst.severity.value if worst else None,
        }
