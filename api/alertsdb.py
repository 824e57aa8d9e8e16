"""The API's access to the alert engine's SQLite store (``alerts/store.py``).

Reads that :class:`alerts.store.Store` has no query for (filtered lists, one alert's events,
the signal column) are plain SQL against its schema on a separate read-only connection, so a slow
list never holds the store's lock. Writes go through the store's public API only (``commit`` with
a :class:`~alerts.store.Batch`, ``add_window``/``remove_window``), so they land in the same rows,
events and idempotency keys the engine writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alerts.lifecycle import emit
from alerts.model import Alert, AlertState, EventKind, Scope, Signal
from alerts.store import Batch, EventRecord, MaintenanceWindow, Store, alert_from_dict
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

    def _signal(self, alert_id: str) -> Signal:
        rows = self._rows("SELECT signal FROM alerts WHERE id = ?", [alert_id])
        if not rows:
            raise NotFound(alert_id)
        return Signal(str(rows[0][0]))

    # -- writes (through the store) ---------------------------------------------------------

    def ack(
        self, alert_id: str, by: str, comment: str, assignee: str | None, now: float
    ) -> Alert:
        """Acknowledge an open alert and log an ``acknowledged`` event, as ``Engine.ack`` does.

        The running engine adopts the ack at its next evaluation (it watches the store's
        ``data_version``). Acks are not notified (the engine does not notify them either).
        """
        alert = self._open(alert_id, "acknowledge")
        alert.acked_by, alert.ack_comment, alert.acked_at = by, comment, now
        alert.assignee = assignee
        event = emit(alert, EventKind.ACKNOWLEDGED, now)
        batch = Batch(alerts={alert.id: (alert, self._signal(alert_id))},
                      events=[EventRecord(event)])
        self.store.commit(batch)
        return alert

    def unack(self, alert_id: str) -> Alert:
        """Clear an ack. The event log has no ``unacknowledged`` kind yet, so no event is
        written; the alert row is updated through the store."""
        alert = self._open(alert_id, "un-acknowledge")
        if alert.acked_at is None:
            raise AlertConflict(f"alert {alert_id} is not acknowledged")
        alert.acked_by = alert.ack_comment = alert.acked_at = alert.assignee = None
        self.store.commit(Batch(alerts={alert.id: (alert, self._signal(alert_id))}))
        return alert

    def _open(self, alert_id: str, what: str) -> Alert:
        # Read-modify-write through the store's API is not one transaction: the engine could
        # commit a transition in between. Reading right before the commit keeps that window
        # to about a millisecond; Store has no atomic ack yet (see docs/api.md).
        alert = self.store.alert(alert_id)
        if alert is None:
            raise NotFound(alert_id)
        if not alert.is_open:
            raise AlertConflict(f"alert {alert_id} is resolved; there is nothing to {what}")
        return alert

    def windows(self, *, not_ended_at: float | None) -> list[MaintenanceWindow]:
        return self.store.windows(not_ended_at=not_ended_at)

    def add_window(
        self, scope: Scope, target: str, starts_at: float, ends_at: float, reason: str, by: str
    ) -> MaintenanceWindow:
        return self.store.add_window(scope, target, starts_at, ends_at, reason, by)

    def end_window(self, window_id: int, now: float) -> MaintenanceWindow | None:
        """End a window now. The store can only add and remove windows, so a running window is
        replaced by a copy ending now (new id: the record of the mute is kept); one that has
        not started is removed (None). An already ended window is a conflict."""
        found = [w for w in self.store.windows(not_ended_at=None) if w.id == window_id]
        if not found:
            raise NotFound(str(window_id))
        w = found[0]
        if w.ends_at <= now:
            raise AlertConflict(f"maintenance window {window_id} already ended")
        self.store.remove_window(window_id)
        if w.starts_at >= now:
            return None
        return self.store.add_window(w.scope, w.target, w.starts_at, now, w.reason,
                                     w.created_by)


def _alert(body: object) -> Alert:
    return alert_from_dict(json.loads(str(body)))
