"""The API's access to the alert engine's SQLite store (``alerts/store.py``).

Reads that :class:`alerts.store.Store` has no query for (filtered lists, one alert's events,
the signal column) are plain SQL against its schema on a separate read-only connection, so a slow
list never holds the store's lock. Writes go through the store's public API only (``set_ack``,
``add_window``/``end_window``), each one transaction, so they land in the same rows, events and
idempotency keys the engine writes and never race its commits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alerts.model import Alert, AlertState, Scope
from alerts.store import (
    AlertNotFound,
    AlertNotOpen,
    MaintenanceWindow,
    Store,
    alert_from_dict,
)
from api.probes import ProbeFailed

__all__ = ["AlertConflict", "AlertFilter", "AlertsDb", "HistoryEntry", "NotFound"]


class NotFound(KeyError):
    """No alert or window with that id."""


class AlertConflict(ValueError):
    """The request does not fit the alert's state (acking a resolved alert, ...)."""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    states: tuple[AlertState, ...] = ()
    rules: tuple[str, ...] = ()
    zone: str | None = None
    station: str | None = None
    since: float | None = None  # alerts still open at or after this time
    until: float | None = None  # alerts that became active before this time
    acked: bool | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event_id: int
    kind: str
    ts: float
    muted: bool
    inhibited: bool
    alert: Alert


class AlertsDb:
    """Read path (SQL on a read-only connection) plus write path (the store's API)."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)  # creates the file and schema if the engine has not yet
        self._lock = threading.Lock()
        self._ro = sqlite3.connect(
            f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False,
            timeout=10.0,
        )

    def close(self) -> None:
        with self._lock:
            self._ro.close()
        self.store.close()

    def _rows(self, sql: str, args: Iterable[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._ro.execute(sql, tuple(args)).fetchall()

    def ping(self) -> None:
        """Raise :class:`api.probes.ProbeFailed` unless the store answers a read."""
        try:
            self._rows("SELECT count(*) FROM alerts WHERE 0")
        except sqlite3.Error as exc:
            raise ProbeFailed(f"alert store {self.store.path} cannot be read: {exc}") from exc

    # -- reads ------------------------------------------------------------------------------

    def search(self, f: AlertFilter) -> tuple[list[Alert], int]:
        """Matching alerts, newest first, and how many match in total (for paging)."""
        where: list[str] = ["1=1"]
        args: list[object] = []
        if f.states:
            where.append(f"state IN ({','.join('?' * len(f.states))})")
            args += [s.value for s in f.states]
        if f.rules:
            where.append(f"rule IN ({','.join('?' * len(f.rules))})")
            args += list(f.rules)
        if f.zone is not None:
            where.append("json_extract(body, '$.zone') = ?")
            args.append(f.zone)
        if f.station is not None:
            where.append("json_extract(body, '$.station') = ?")
            args.append(f.station)
        if f.until is not None:
            where.append("active_at < ?")
            args.append(f.until)
        if f.since is not None:
            where.append("(resolved_at IS NULL OR resolved_at >= ?)")
            args.append(f.since)
        if f.acked is not None:
            op = "IS NOT NULL" if f.acked else "IS NULL"
            where.append(f"json_extract(body, '$.acked_at') {op}")
        clause = " AND ".join(where)
        total = self._rows(f"SELECT count(*) FROM alerts WHERE {clause}", args)[0][0]
        rows = self._rows(
            f"SELECT body FROM alerts WHERE {clause} ORDER BY active_at DESC, id"
            " LIMIT ? OFFSET ?",
            [*args, f.limit, f.offset],
        )
        return [_alert(r[0]) for r in rows], int(str(total))

    def get(self, alert_id: str) -> Alert:
        rows = self._rows("SELECT body FROM alerts WHERE id = ?", [alert_id])
        if not rows:
            raise NotFound(alert_id)
        return _alert(rows[0][0])

    def open_alerts(self) -> list[Alert]:
        rows = self._rows("SELECT body FROM alerts WHERE state != 'resolved'")
        return [_alert(r[0]) for r in rows]

    def history(self, alert_id: str) -> list[HistoryEntry]:
        self.get(alert_id)  # 404 for an unknown id rather than an empty list
        rows = self._rows(
            "SELECT id, kind, ts, muted, inhibited, body FROM events WHERE alert_id = ?"
            " ORDER BY id",
            [alert_id],
        )
        return [
            HistoryEntry(int(str(i)), str(k), float(str(ts)), bool(m), bool(inh), _alert(b))
            for i, k, ts, m, inh, b in rows
        ]

    # -- writes (through the store) ---------------------------------------------------------

    def ack(
        self, alert_id: str, by: str, comment: str, assignee: str | None, now: float
    ) -> Alert:
        """Acknowledge an open alert: one store transaction that also logs an ``acknowledged``
        event. The running engine adopts it at its next evaluation (it watches the store's
        ``data_version``). Acks are not notified (the engine does not notify them either)."""
        return self._set_ack(alert_id, by, comment, assignee, now)

    def unack(self, alert_id: str, now: float) -> Alert:
        """Take an ack back (logged as ``unacknowledged``): repeats start again."""
        return self._set_ack(alert_id, None, None, None, now)

    def _set_ack(
        self, alert_id: str, by: str | None, comment: str | None, assignee: str | None,
        now: float,
    ) -> Alert:
        try:
            return self.store.set_ack(alert_id, by=by, comment=comment, assignee=assignee,
                                      now=now)
        except AlertNotFound as exc:
            raise NotFound(alert_id) from exc
        except AlertNotOpen as exc:
            raise AlertConflict(str(exc)) from exc

    def windows(self, *, not_ended_at: float | None) -> list[MaintenanceWindow]:
        return self.store.windows(not_ended_at=not_ended_at)

    def add_window(
        self, scope: Scope, target: str, starts_at: float, ends_at: float, reason: str, by: str
    ) -> MaintenanceWindow:
        return self.store.add_window(scope, target, starts_at, ends_at, reason, by)

    def end_window(self, window_id: int, now: float) -> MaintenanceWindow | None:
        """End a window now (same id, record kept); one not started yet is removed (None)."""
        try:
            return self.store.end_window(window_id, now)
        except AlertNotFound as exc:
            raise NotFound(str(window_id)) from exc
        except AlertNotOpen as exc:
            raise AlertConflict(str(exc)) from exc


def _alert(body: object) -> Alert:
    return alert_from_dict(json.loads(str(body)))
