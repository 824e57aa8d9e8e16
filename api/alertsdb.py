"""The API's access to the alert engine's SQLite store (:class:`alerts.store.Store`).

Reads go through a second, read-only :class:`~alerts.store.Store` connection, so a slow list
never holds the writing connection's lock. Writes go through the store's API (``set_ack``,
``add_window``/``end_window``), each one transaction, so they land in the same rows, events and
idempotency keys the engine writes and never race its commits. This module only turns the
store's answers and errors into the API's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alerts.model import Alert, Scope
from alerts.rows import AlertFilter, MaintenanceWindow
from alerts.store import AlertNotFound, AlertNotOpen, Store
from api.probes import ProbeFailed

__all__ = ["AlertConflict", "AlertsDb", "HistoryEntry", "NotFound"]


class NotFound(KeyError):
    """No alert or window with that id."""


class AlertConflict(ValueError):
    """The request does not fit the alert's state (acking a resolved alert, ...)."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event_id: int
    kind: str
    ts: float
    muted: bool
    inhibited: bool
    alert: Alert


class AlertsDb:
    """Read path (a read-only store connection) plus write path (the store's API)."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)  # creates the file and schema if the engine has not yet
        self._ro = Store(path, readonly=True)

    def close(self) -> None:
        self._ro.close()
        self.store.close()

    def ping(self) -> None:
        """Raise :class:`api.probes.ProbeFailed` unless the store answers a read."""
        try:
            self._ro.ping()
        except sqlite3.Error as exc:
            raise ProbeFailed(f"alert store {self.store.path} cannot be read: {exc}") from exc

    # -- reads ------------------------------------------------------------------------------

    def search(self, f: AlertFilter) -> tuple[list[Alert], int]:
        """Matching alerts, newest first, and how many match in total (for paging)."""
        return self._ro.search(f)

    def get(self, alert_id: str) -> Alert:
        alert = self._ro.alert(alert_id)
        if alert is None:
            raise NotFound(alert_id)
        return alert

    def open_alerts(self) -> list[Alert]:
        return [alert for alert, _signal in self._ro.open_alerts()]

    def history(self, alert_id: str) -> list[HistoryEntry]:
        self.get(alert_id)  # 404 for an unknown id rather than an empty list
        return [
            HistoryEntry(i, r.event.kind.value, r.event.ts, r.muted, r.inhibited, r.event.alert)
            for i, r in self._ro.events(alert_id=alert_id, limit=None)
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

