"""The fleet snapshot: every station's status, last reading and open alerts, cached.

The station list must answer for 20,000 stations in well under 300 ms, and an operator page
polls it. So three InfluxQL statements (:data:`api.queries.LAST_VALUES` and friends, sent in
parallel) plus one SQLite read build a snapshot of the whole fleet, which serves every client.
The unfiltered list is also kept pre-serialised, so the common request is a memory copy.
See :class:`SnapshotCache` for when a request waits for InfluxDB (almost never, and never long).
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
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
from api.queries import LAST_STATUS, LAST_TIMES, LAST_VALUES
from heatwatch.influx import AsyncInfluxClient, InfluxUnavailable
from heatwatch.registry import UNASSIGNED_ZONE, Registry

__all__ = ["FleetNotReady", "Snapshot", "SnapshotCache"]

log = logging.getLogger(__name__)
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class FleetNotReady(Exception):
    """No snapshot to serve yet and the one being built did not finish within
    ``cache.ready_wait_s``: answered 503 with ``Retry-After: retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the fleet snapshot is being built; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


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


class SnapshotCache:
    """Builds and caches :class:`Snapshot`; ``clock`` is injectable for tests.

    Stale-while-revalidate: a snapshot is fresh for ``fleet_ttl_s`` (or twice as long as the
    last build took, so a slow database is never queried back to back); after that it is still
    served, at once, while one background task builds the next, until it is ``max_stale_s``
    old. Only then, or before the first snapshot exists, does a request wait for InfluxDB, and
    at most ``ready_wait_s``: then it gets :class:`FleetNotReady` (503, Retry-After) while the
    build goes on for the next request. Measured on InfluxDB 1.6 with 20,000 stations, the
    fleet query takes 6-23 s (bench/api_bench.py), so waiting for it on every expiry would miss
    the list's 300 ms target by an order of magnitude, and a client (or a proxy's timeout)
    waiting for the first one after a start would hang that long.
    """

    def __init__(
        self,
        influx: AsyncInfluxClient,
        alerts: AlertsDb,
        registry: Registry,
        cache: CacheSettings,
        *,
        clock: Callable[[], float] = time.time,
        on_cache: Callable[[str], None] | None = None,
    ) -> None:
        self.influx, self.alerts, self.registry, self.cache = influx, alerts, registry, cache
        self.clock = clock
        self._on_cache = on_cache
        self._snapshot: Snapshot | None = None
        self._build_s = 0.0
        self._failed_at = -math.inf
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._waited: asyncio.Task[Snapshot] | None = None  # the build waiting requests join
        self._build_started: float | None = None  # perf_counter of the build in progress

    def _refresh_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    def _fresh_for(self) -> float:
        return max(self.cache.fleet_ttl_s, 2 * self._build_s)

    async def snapshot(self) -> Snapshot:
        """The current snapshot; waits for InfluxDB only when there is none usable."""
        snap = self._snapshot
        if snap is not None:
            age = self.clock() - snap.taken_at
            if age < self._fresh_for():
                self._count("hit")
                return snap
            if age < self.cache.max_stale_s:
                self._count("stale")
                self.refresh_in_background()
                return snap
        self._count("miss")
        return await self._wait_for_build()

    async def _wait_for_build(self) -> Snapshot:
        """Join (or start) a build and wait for it at most ``ready_wait_s``. The build is
        shielded: a request that gives up does not cancel it, the next one finds it done."""
        task = self._waited
        if task is None or task.done():
            task = self._waited = asyncio.get_running_loop().create_task(self._build_shared())
            task.add_done_callback(_log_unwaited_failure)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.cache.ready_wait_s)
        except TimeoutError:
            raise FleetNotReady(self._retry_after()) from None

    def _retry_after(self) -> int:
        """Seconds until the build in progress should be done: the last build's duration
        minus the time this one has run; 5 before any build finished, at least 1."""
        elapsed = 0.0
        if self._build_started is not None:
            elapsed = time.perf_counter() - self._build_started
        expected = self._build_s if self._build_s > 0 else 5.0
        return max(1, math.ceil(expected - elapsed))

    def refresh_in_background(self) -> None:
        """Start one background rebuild unless one runs or the last failed a moment ago."""
        if self._task is not None and not self._task.done():
            return
        if self.clock() - self._failed_at < self.cache.fleet_ttl_s:
            return
        self._task = asyncio.get_running_loop().create_task(self._background())

    async def _background(self) -> None:
        try:
            await self._build_shared()
        except InfluxUnavailable as exc:
            self._failed_at = self.clock()
            log.warning("fleet snapshot refresh failed, serving the previous one: %s",
                        exc.detail)
        except sqlite3.Error as exc:
            self._failed_at = self.clock()
            log.warning("fleet snapshot refresh failed on the alert store: %s", exc)

    async def _build_shared(self) -> Snapshot:
        async with self._refresh_lock():
            snap = self._snapshot  # someone else may have refreshed while we waited
            if snap is not None and self.clock() - snap.taken_at < self._fresh_for():
                return snap
            started = self._build_started = time.perf_counter()
            try:
                snap = await self._build()
            finally:
                self._build_started = None
            self._build_s = time.perf_counter() - started
            self._snapshot = snap
            return snap

    def _count(self, result: str) -> None:
        if self._on_cache is not None:
            self._on_cache(result)

    async def _build(self) -> Snapshot:
        now = self.clock()
        since_ns = int((now - self.cache.lookback_s) * 1e9)
        params = {"since": since_ns}
        t = self.cache.fleet_query_timeout_s
        # Separate requests run in parallel on the server (one request runs its statements
        # one after the other); the alert store is read meanwhile.
        (last_all,), (last_time,), (status,), open_alerts = await asyncio.gather(
            self.influx.query(LAST_VALUES, params, timeout=t),
            self.influx.query(LAST_TIMES, params, timeout=t),
            self.influx.query(LAST_STATUS, params, timeout=t),
            anyio.to_thread.run_sync(self.alerts.open_alerts),
        )

        values: dict[str, dict[str, Any]] = {}
        for s in last_all:
            row = s.values[0] if s.values else []
            values[s.tags.get("station", "")] = {
                col.removeprefix("last_"): v
                for col, v in zip(s.columns, row, strict=False)
                if col != "time" and v is not None  # a field this station never sent
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


def _log_unwaited_failure(task: asyncio.Task[Snapshot]) -> None:
    """A build every waiting request gave up on still reports how it ended (and its
    exception counts as retrieved: asyncio would otherwise warn at garbage collection)."""
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, InfluxUnavailable):
        log.warning("fleet snapshot build failed: %s", exc.detail)
    elif exc is not None:
        log.warning("fleet snapshot build failed: %s", exc)
