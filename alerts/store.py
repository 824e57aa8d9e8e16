"""Alert state in an embedded SQLite database (stdlib ``sqlite3``, WAL, synchronous=FULL).

Why SQLite: a restart must lose no alert and repeat no notification, and the engine runs as
one process next to the broker; an embedded transactional store gives that without another
server to operate. Each evaluation commits alert rows, their events and the notification
outbox rows *in one transaction*, so after a crash either the transition and its notification
exist together or neither does (and the next evaluation re-derives it).

Tables: ``alerts`` (current and past incidents, acks inline), ``events`` (every transition,
read by the InfluxDB sink through a cursor), ``outbox`` (one row per receiver and event, keyed by
the idempotency key), ``maintenance`` (windows), ``group_timers`` and ``cursors``. The row
types are in :mod:`alerts.rows`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from alerts.lifecycle import emit
from alerts.model import (
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    Scope,
    Severity,
    Signal,
    parse_key,
)
from alerts.rows import (
    AlertFilter,
    Batch,
    EventRecord,
    GroupTimer,
    MaintenanceWindow,
    OutboxItem,
)

__all__ = [
    "AlertNotFound",
    "AlertNotOpen",
    "Pruned",
    "Store",
    "alert_from_dict",
    "alert_to_dict",
]

class AlertNotFound(LookupError):
    """No alert (or maintenance window) with that id."""


class AlertNotOpen(ValueError):
    """The alert is resolved (or the window ended): there is nothing to change."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL,
    signal TEXT NOT NULL, active_at REAL NOT NULL, resolved_at REAL, body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_alert ON alerts(rule, subject)
    WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, alert_id TEXT NOT NULL,
    kind TEXT NOT NULL, ts REAL NOT NULL, muted INTEGER NOT NULL, inhibited INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY, receiver TEXT NOT NULL, alert_id TEXT NOT NULL, event TEXT NOT NULL,
    ts REAL NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL, last_error TEXT, sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox(receiver, alert_id, status);
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, target TEXT NOT NULL,
    starts_at REAL NOT NULL, ends_at REAL NOT NULL, reason TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_timers (
    receiver TEXT NOT NULL, key TEXT NOT NULL, next_flush REAL, last_flush REAL,
    PRIMARY KEY (receiver, key)
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS alerts_resolved ON alerts(resolved_at) WHERE state = 'resolved';
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
DROP TABLE IF EXISTS meta;
"""
# ``meta`` (key/value) was created by earlier versions and never written: dropped on open.


# The engine's evaluation batches keep whatever ack the row already has: acks are written by
# other connections too (the API process), and an evaluation that started before an ack landed
# must not erase it. The event sequence only ever grows, whoever bumped it.
_KEEP_ACKS = (
    "json_set(excluded.body,"
    " '$.acked_by', json_extract(alerts.body, '$.acked_by'),"
    " '$.ack_comment', json_extract(alerts.body, '$.ack_comment'),"
    " '$.acked_at', json_extract(alerts.body, '$.acked_at'),"
    " '$.assignee', json_extract(alerts.body, '$.assignee'),"
    " '$.seq', max(json_extract(alerts.body, '$.seq'), json_extract(excluded.body, '$.seq')))"
)


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return asdict(alert)


def alert_from_dict(data: dict[str, Any]) -> Alert:
    data = dict(data)
    data["state"] = AlertState(data["state"])
    data["severity"] = Severity(data["severity"])
    data["scope"] = Scope(data["scope"])
    return Alert(**data)


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows one retention pass deleted, per table."""

    outbox: int = 0
    events: int = 0
    alerts: int = 0
    group_timers: int = 0


class Store:
    """One connection to the state database; safe to share between threads (serialised)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        """``readonly``: a connection that only reads (the API's lists, so a slow one never
        holds the writing connection's lock); the database must exist already."""
        self.path = Path(path)
        self._lock = threading.RLock()
        if readonly:
            self._db = sqlite3.connect(
                f"file:{self.path.resolve()}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False, timeout=10.0,
            )
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- alerts and events ------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write one evaluation's alert rows, events and outbox rows atomically."""
        if not batch:
            return
        body = "excluded.body" if not batch.keep_acks else _KEEP_ACKS
        with self._tx() as db:
            db.executemany(
                "INSERT INTO alerts(id, rule, subject, state, signal, active_at, resolved_at, body)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET state=excluded.state,"
                f" signal=excluded.signal, resolved_at=excluded.resolved_at, body={body}",
                [
                    (a.id, a.rule, a.subject, a.state.value, sig.value, a.active_at,
                     a.resolved_at, json.dumps(alert_to_dict(a)))
                    for a, sig in batch.alerts.values()
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO events(key, alert_id, kind, ts, muted, inhibited, body)"
                " VALUES (?,?,?,?,?,?,?)",
                [
                    (r.event.key, r.event.alert.id, r.event.kind.value, r.event.ts,
                     int(r.muted), int(r.inhibited), json.dumps(alert_to_dict(r.event.alert)))
                    for r in batch.events
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO outbox(key, receiver, alert_id, event, ts, body, status,"
                " attempts, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (o.key, o.receiver, o.alert.id, o.kind.value, o.ts,
                     json.dumps(alert_to_dict(o.alert)), o.status, o.attempts, o.next_attempt_at)
                    for o in batch.outbox
                ],
            )
            db.executemany(
                "INSERT INTO group_timers(receiver, key, next_flush, last_flush) VALUES (?,?,?,?)"
                " ON CONFLICT(receiver, key) DO UPDATE SET next_flush=excluded.next_flush,"
                " last_flush=excluded.last_flush",
                [(g.receiver, g.key, g.next_flush, g.last_flush) for g in batch.groups],
            )

    def set_ack(
        self, alert_id: str, *, by: str | None, comment: str | None, assignee: str | None,
        now: float,
    ) -> Alert:
        """Acknowledge (``by`` set) or un-acknowledge (``by`` None) an open alert and log the
        event, in one transaction: another process (the API) acks while the engine commits
        transitions, and a read-modify-write across two transactions could write an older
        state back over a newer one (a resolved alert saved as firing)."""
        with self._tx() as db:
            row = db.execute("SELECT body FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                raise AlertNotFound(alert_id)
            alert = alert_from_dict(json.loads(row[0]))
            if not alert.is_open:
                raise AlertNotOpen(f"alert {alert_id} is resolved")
            if by is None:
                if alert.acked_at is None:
                    raise AlertNotOpen(f"alert {alert_id} is not acknowledged")
                alert.acked_by = alert.ack_comment = alert.acked_at = alert.assignee = None
                kind = EventKind.UNACKNOWLEDGED
            else:
                alert.acked_by, alert.ack_comment, alert.acked_at = by, comment, now
                alert.assignee = assignee
                kind = EventKind.ACKNOWLEDGED
            event = emit(alert, kind, now)
            db.execute("UPDATE alerts SET body = ? WHERE id = ?",
                       (json.dumps(alert_to_dict(alert)), alert_id))
            db.execute(
                "INSERT OR IGNORE INTO events(key, alert_id, kind, ts, muted, inhibited, body)"
                " VALUES (?,?,?,?,?,?,?)",
                (event.key, alert_id, kind.value, now, 0, 0,
                 json.dumps(alert_to_dict(event.alert))),
            )
        return alert

    def open_alerts(self) -> list[tuple[Alert, Signal]]:
        """Alerts not yet resolved, with the last signal their rule gave (restart recovery)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body, signal FROM alerts WHERE state != 'resolved' ORDER BY active_at"
            ).fetchall()
        return [(alert_from_dict(json.loads(body)), Signal(sig)) for body, sig in rows]

    def data_version(self) -> int:
        """Changes whenever *another* connection committed (SQLite ``PRAGMA data_version``):
        a one-call test for "did the API ack something or add a window?"."""
        with self._lock:
            row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def open_alert(self, rule: str, subject: str) -> Alert | None:
        """The open alert of ``(rule, subject)``, if any (the inhibition check before a send)."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM alerts WHERE rule=? AND subject=? AND state != 'resolved'",
                (rule, subject),
            ).fetchone()
        return alert_from_dict(json.loads(row[0])) if row else None

    def alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return alert_from_dict(json.loads(row[0])) if row else None

    def alerts(self, *, rule: str | None = None) -> list[Alert]:
        """All alerts (history included), oldest first; for the API and for tests."""
        sql, args = "SELECT body FROM alerts", cast(tuple[object, ...], ())
        if rule is not None:
            sql, args = sql + " WHERE rule=?", (rule,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY active_at, id", args).fetchall()
        return [alert_from_dict(json.loads(r[0])) for r in rows]

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
        for test, value in (
            ("json_extract(body, '$.zone') = ?", f.zone),
            ("json_extract(body, '$.station') = ?", f.station),
            ("active_at < ?", f.until),  # became active before it
            ("(resolved_at IS NULL OR resolved_at >= ?)", f.since),  # still open at it
        ):
            if value is not None:
                where.append(test)
                args.append(value)
        if f.acked is not None:
            op = "IS NOT NULL" if f.acked else "IS NULL"
            where.append(f"json_extract(body, '$.acked_at') {op}")
        clause = " AND ".join(where)
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM alerts WHERE {clause}",
                                     args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT body FROM alerts WHERE {clause} ORDER BY active_at DESC, id"
                " LIMIT ? OFFSET ?",
                [*args, f.limit, f.offset],
            ).fetchall()
        return [alert_from_dict(json.loads(r[0])) for r in rows], int(total)

    def ping(self) -> None:
        """One read of the alerts table; raises :class:`sqlite3.Error` if it fails."""
        with self._lock:
            self._db.execute("SELECT count(*) FROM alerts WHERE 0").fetchone()

    def events(self, *, after: int = 0, limit: int | None = 10000,
               alert_id: str | None = None) -> list[tuple[int, EventRecord]]:
        """Logged events with their row id (a cursor position), in commit order; of one
        alert if ``alert_id`` is given; ``limit`` None: all of them."""
        where, args = "id > ?", cast(tuple[object, ...], (after,))
        if alert_id is not None:
            where, args = where + " AND alert_id = ?", (after, alert_id)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, kind, ts, muted, inhibited, body, key FROM events WHERE {where}"
                " ORDER BY id LIMIT ?",
                (*args, -1 if limit is None else limit),
            ).fetchall()
        out = []
        for row_id, kind, ts, muted, inhibited, body, key in rows:
            seq = parse_key(key, receiver=False).seq
            event = AlertEvent(EventKind(kind), ts, alert_from_dict(json.loads(body)), seq)
            out.append((row_id, EventRecord(event, bool(muted), bool(inhibited))))
        return out

    # -- cursors ----------------------------------------------------------------------------

    def cursor(self, name: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM cursors WHERE name=?", (name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def set_cursor(self, name: str, position: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors(name, position) VALUES (?,?) ON CONFLICT(name)"
                " DO UPDATE SET position=excluded.position",
                (name, position),
            )

    # -- maintenance windows ----------------------------------------------------------------

    def add_window(
        self, scope: Scope, target: str, starts_at: float, ends_at: float,
        reason: str = "", created_by: str = "",
    ) -> MaintenanceWindow:
        if scope is Scope.GLOBAL:
            raise ValueError("maintenance windows are per station or per zone")
        if ends_at <= starts_at:
            raise ValueError("a maintenance window must end after it starts")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO maintenance(scope, target, starts_at, ends_at, reason, created_by)"
                " VALUES (?,?,?,?,?,?)",
                (scope.value, target, starts_at, ends_at, reason, created_by),
            )
            row_id = int(cur.lastrowid or 0)
        return MaintenanceWindow(row_id, scope, target, starts_at, ends_at, reason, created_by)

    def end_window(self, window_id: int, now: float) -> MaintenanceWindow | None:
        """End a window now, keeping its id and record; one that has not started yet is
        removed (None). Raises AlertNotFound / AlertNotOpen (already ended)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM maintenance WHERE id = ?", (window_id,)).fetchone()
            if row is None:
                raise AlertNotFound(f"maintenance window {window_id}")
            i, scope, target, starts_at, ends_at, reason, by = row
            if ends_at <= now:
                raise AlertNotOpen(f"maintenance window {window_id} already ended")
            if starts_at >= now:
                db.execute("DELETE FROM maintenance WHERE id = ?", (window_id,))
                return None
            db.execute("UPDATE maintenance SET ends_at = ? WHERE id = ?", (now, window_id))
        return MaintenanceWindow(i, Scope(scope), target, starts_at, now, reason, by)

    def windows(self, *, not_ended_at: float | None = None) -> list[MaintenanceWindow]:
        sql, args = "SELECT * FROM maintenance", cast(tuple[object, ...], ())
        if not_ended_at is not None:
            sql, args = sql + " WHERE ends_at > ?", (not_ended_at,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            MaintenanceWindow(i, Scope(s), t, a, b, r, c) for i, s, t, a, b, r, c in rows
        ]

    # -- notification outbox ----------------------------------------------------------------

    def due(self, now: float, *, limit: int = 100,
            receiver: str | None = None) -> list[OutboxItem]:
        """Pending notifications whose next attempt is due, oldest event first (of one
        ``receiver`` if given: each receiver has its own delivery worker).

        Only the oldest pending row per (receiver, alert) qualifies, so a resolved never
        overtakes the firing it resolves while that one is backing off.
        """
        where, args = "", cast(tuple[object, ...], (now,))
        if receiver is not None:
            where, args = " AND receiver=?", (now, receiver)
        with self._lock:
            rows = self._db.execute(
                "SELECT key, receiver, event, ts, body, status, attempts, next_attempt_at,"
                " last_error FROM outbox o WHERE status='pending' AND next_attempt_at <= ?"
                f"{where} AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.receiver=o.receiver"
                " AND p.alert_id=o.alert_id AND p.status='pending' AND p.rowid < o.rowid)"
                " ORDER BY ts, rowid LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            OutboxItem(k, r, EventKind(e), ts, alert_from_dict(json.loads(b)), s, n, nxt, err)
            for k, r, e, ts, b, s, n, nxt, err in rows
        ]

    def mark_sent(self, key: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET status='sent', sent_at=?, attempts=attempts+1 WHERE key=?",
                (now, key),
            )

    def mark_retry(self, key: str, next_attempt_at: float, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=?"
                " WHERE key=?",
                (next_attempt_at, error, key),
            )

    def mark_failed(self, key: str, error: str, *, attempted: bool = True) -> None:
        """Give a row up; ``attempted``: this call follows a send (counted as an attempt)."""
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET status='failed', attempts=attempts+?, last_error=?"
                " WHERE key=?",
                (int(attempted), error, key),
            )

    def postpone(self, key: str, next_attempt_at: float, reason: str) -> None:
        """Hold a row back without counting an attempt (inhibited or muted right now)."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET next_attempt_at=?, last_error=? WHERE key=?",
                       (next_attempt_at, reason, key))

    def mark_suppressed(self, key: str, reason: str) -> None:
        """Never send this row (status ``suppressed``): its alert was inhibited or muted
        until it resolved, so the receiver never needs to hear of it."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET status='suppressed', last_error=? WHERE key=?",
                       (reason, key))

    def was_sent(self, receiver: str, alert_id: str) -> bool:
        """Did ``receiver`` get any non-resolved row of this alert (so a resolved must follow)?"""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM outbox WHERE receiver=? AND alert_id=? AND status='sent'"
                " AND event != 'resolved' LIMIT 1",
                (receiver, alert_id),
            ).fetchone()
        return row is not None

    # -- group timers -----------------------------------------------------------------------

    def group_timers(self) -> list[GroupTimer]:
        with self._lock:
            rows = self._db.execute(
                "SELECT receiver, key, next_flush, last_flush FROM group_timers").fetchall()
        return [GroupTimer(r, k, n, f) for r, k, n, f in rows]

    # -- retention --------------------------------------------------------------------------

    def prune(self, *, outbox_before: float | None = None, events_before: float | None = None,
              alerts_before: float | None = None, events_upto_id: int | None = None,
              chunk: int = 5000) -> Pruned:
        """Delete old rows in chunks (short transactions: the engine commits meanwhile).

        * outbox rows no longer pending, of events before ``outbox_before``, whose alert is
          resolved and has no row left pending: the keys of an open alert's rows are what
          makes a restart send its resolved, escalation and repeats exactly once, and a
          pending resolved goes only to receivers with a sent firing row;
        * events before ``events_before`` with a row id up to ``events_upto_id`` (what the
          InfluxDB sink has written; None: no limit);
        * resolved alerts resolved before ``alerts_before``;
        * group timers with nothing scheduled, last flushed before ``outbox_before``.
        """
        outbox = events = alerts = timers = 0
        if outbox_before is not None:
            outbox = self._delete_chunks(
                "DELETE FROM outbox WHERE rowid IN (SELECT o.rowid FROM outbox o"
                " WHERE o.status != 'pending' AND o.ts < ? AND NOT EXISTS (SELECT 1 FROM"
                " alerts a WHERE a.id = o.alert_id AND a.state != 'resolved') AND NOT EXISTS"
                " (SELECT 1 FROM outbox p WHERE p.alert_id = o.alert_id"
                " AND p.status = 'pending') LIMIT ?)",
                (outbox_before,), chunk)
            timers = self._delete_chunks(
                "DELETE FROM group_timers WHERE rowid IN (SELECT rowid FROM group_timers"
                " WHERE next_flush IS NULL AND coalesce(last_flush, 0) < ? LIMIT ?)",
                (outbox_before,), chunk)
        if events_before is not None:
            upto = events_upto_id if events_upto_id is not None else 2 ** 62
            events = self._delete_chunks(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? AND id <= ?"
                " LIMIT ?)", (events_before, upto), chunk)
        if alerts_before is not None:
            alerts = self._delete_chunks(
                "DELETE FROM alerts WHERE rowid IN (SELECT rowid FROM alerts WHERE"
                " state = 'resolved' AND resolved_at < ? LIMIT ?)", (alerts_before,), chunk)
        return Pruned(outbox, events, alerts, timers)

    def _delete_chunks(self, sql: str, args: tuple[object, ...], chunk: int) -> int:
        total = 0
        while True:
            with self._tx() as db:
                n = db.execute(sql, (*args, chunk)).rowcount
            total += n
            if n < chunk:
                return total

    def outbox(self, *, status: str | None = None) -> list[OutboxItem]:
        """Every outbox row (for tests and the API), in enqueue order."""
        sql, args = (
            "SELECT key, receiver, event, ts, body, status, attempts, next_attempt_at,"
            " last_error FROM outbox",
            cast(tuple[object, ...], ()),
        )
        if status is not None:
            sql, args = sql + " WHERE status=?", (status,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY rowid", args).fetchall()
        return [
            OutboxItem(k, r, EventKind(e), ts, alert_from_dict(json.loads(b)), s, n, nxt, err)
            for k, r, e, ts, b, s, n, nxt, err in rows
        ]

    def keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already in the outbox (dedup stage)."""
        wanted = list(keys)
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT key FROM outbox WHERE key IN ({marks})", wanted
            ).fetchall()
        return {r[0] for r in rows}
