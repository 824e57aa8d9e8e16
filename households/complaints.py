"""Hotline complaints: tickets with a lifecycle, and the KPIs a regulator checks.

Stored in the alert store's SQLite file (``alerts_db``), in tables of their own created the
same way (``CREATE TABLE IF NOT EXISTS``; WAL; one transaction per change), so the operator has
one database to back up and the API needs no new setting. Only the API writes them.

A ticket is ``open`` when taken, ``visited`` once a crew has been there (the first visit's time
and crew are kept; later visits are events), ``resolved`` when someone closes it. Every change
is an event with who, when and a note. The data's verdict is stored with the ticket but never
moves it: a complaint is closed by a person, not by a sensor.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from households.verdict import Verdict

__all__ = [
    "CHANNELS",
    "STATUSES",
    "Complaint",
    "ComplaintConflict",
    "ComplaintFilter",
    "ComplaintNotFound",
    "ComplaintStore",
    "Kpis",
    "NewComplaint",
    "TicketEvent",
    "ticket_id",
]

CHANNELS = ("12345", "phone", "app")
STATUSES = ("open", "visited", "resolved")

SCHEMA = """
CREATE TABLE IF NOT EXISTS complaints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL, meter TEXT, zone TEXT NOT NULL, address TEXT,
    reported_at REAL NOT NULL, received_at REAL NOT NULL, channel TEXT NOT NULL,
    text TEXT NOT NULL, created_by TEXT NOT NULL, status TEXT NOT NULL,
    visited_at REAL, visited_by TEXT, resolved_at REAL, resolved_by TEXT,
    finding TEXT NOT NULL, verdict TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS complaints_reported ON complaints(reported_at);
CREATE INDEX IF NOT EXISTS complaints_flat ON complaints(station, meter);
CREATE TABLE IF NOT EXISTS complaint_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, complaint INTEGER NOT NULL, kind TEXT NOT NULL,
    at REAL NOT NULL, who TEXT NOT NULL, note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS complaint_events_of ON complaint_events(complaint);
"""
_COLUMNS = ("id, station, meter, zone, address, reported_at, received_at, channel, text, "
            "created_by, status, visited_at, visited_by, resolved_at, resolved_by, verdict")


class ComplaintNotFound(LookupError):
    """No ticket with that id."""


class ComplaintConflict(ValueError):
    """The change does not fit the ticket's state (visiting a resolved ticket, ...)."""


def ticket_id(number: int) -> str:
    """The id read out to the resident: ``T000042``."""
    return f"T{number:06d}"


def _number(ticket: str) -> int:
    if len(ticket) < 2 or ticket[0] != "T" or not ticket[1:].isdigit():
        raise ComplaintNotFound(ticket)
    return int(ticket[1:])


@dataclass(frozen=True, slots=True)
class NewComplaint:
    station: str
    zone: str
    meter: str | None
    address: str | None
    reported_at: float
    channel: str
    text: str


@dataclass(frozen=True, slots=True)
class TicketEvent:
    kind: str  # "opened" | "visited" | "resolved"
    at: float
    who: str
    note: str


@dataclass(frozen=True, slots=True)
class Complaint:
    ticket: str
    station: str
    meter: str | None
    zone: str
    address: str | None
    reported_at: float
    received_at: float
    channel: str
    text: str
    created_by: str
    status: str
    visited_at: float | None
    visited_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    verdict: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ComplaintFilter:
    status: tuple[str, ...] = ()
    station: str | None = None
    meter: str | None = None
    zone: str | None = None
    since: float | None = None  # reported at or after
    until: float | None = None  # reported before
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Kpis:
    """Complaints reported in a period. Times in hours; None without any such ticket.

    ``repeat_complaints``: complaints on a flat that already had one in the period (a flat
    complaining three times counts two); ``repeat_flats``: flats with more than one."""

    complaints: int
    open: int
    visited: int
    resolved: int
    share_resolved: float | None
    first_visit_h_median: float | None
    first_visit_h_p90: float | None
    resolve_h_median: float | None
    resolve_h_p90: float | None
    repeat_complaints: int
    repeat_flats: int
    worst_flats: list[tuple[str, str, int]]  # (station, meter, complaints), most first
    findings: dict[str, int]


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


class ComplaintStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
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

    def add(self, new: NewComplaint, verdict: Verdict, who: str, now: float) -> Complaint:
        """Store a complaint as an ``open`` ticket with the data's verdict."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO complaints (station, meter, zone, address, reported_at, "
                "received_at, channel, text, created_by, status, finding, verdict) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                (new.station, new.meter, new.zone, new.address, new.reported_at, now,
                 new.channel, new.text, who, verdict.finding, json.dumps(asdict(verdict))))
            number = cur.lastrowid
            assert number is not None
            db.execute("INSERT INTO complaint_events (complaint, kind, at, who, note) "
                       "VALUES (?, 'opened', ?, ?, ?)", (number, now, who, verdict.text_en))
        return self.get(ticket_id(number))

    def get(self, ticket: str) -> Complaint:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM complaints WHERE id = ?",
                                   (_number(ticket),)).fetchone()
        if row is None:
            raise ComplaintNotFound(ticket)
        return _complaint(row)

    def events(self, ticket: str) -> list[TicketEvent]:
        number = _number(ticket)
        self.get(ticket)
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, at, who, note FROM complaint_events WHERE complaint = ? "
                "ORDER BY id", (number,)).fetchall()
        return [TicketEvent(*r) for r in rows]

    def search(self, f: ComplaintFilter) -> tuple[list[Complaint], int]:
        """Newest reported first; (page, total matching)."""
        where, args = _where(f)
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM complaints{where}",
                                     args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM complaints{where} ORDER BY reported_at DESC, id DESC "
                "LIMIT ? OFFSET ?", [*args, f.limit, f.offset]).fetchall()
        return [_complaint(r) for r in rows], int(total)

    def visit(self, ticket: str, who: str, note: str, now: float) -> Complaint:
        """A crew was there. The first visit sets ``visited``; later ones are events only."""
        number = _number(ticket)
        with self._tx() as db:
            row = db.execute("SELECT status, visited_at FROM complaints WHERE id = ?",
                             (number,)).fetchone()
            if row is None:
                raise ComplaintNotFound(ticket)
            if row[0] == "resolved":
                raise ComplaintConflict(f"ticket {ticket} is resolved")
            if row[1] is None:
                db.execute("UPDATE complaints SET status = 'visited', visited_at = ?, "
                           "visited_by = ? WHERE id = ?", (now, who, number))
            db.execute("INSERT INTO complaint_events (complaint, kind, at, who, note) "
                       "VALUES (?, 'visited', ?, ?, ?)", (number, now, who, note))
        return self.get(ticket)

    def resolve(self, ticket: str, who: str, note: str, now: float) -> Complaint:
        """Closed by a person, with a note saying what was done."""
        number = _number(ticket)
        with self._tx() as db:
            row = db.execute("SELECT status FROM complaints WHERE id = ?", (number,)).fetchone()
            if row is None:
                raise ComplaintNotFound(ticket)
            if row[0] == "resolved":
                raise ComplaintConflict(f"ticket {ticket} is already resolved")
            db.execute("UPDATE complaints SET status = 'resolved', resolved_at = ?, "
                       "resolved_by = ? WHERE id = ?", (now, who, number))
            db.execute("INSERT INTO complaint_events (complaint, kind, at, who, note) "
                       "VALUES (?, 'resolved', ?, ?, ?)", (number, now, who, note))
        return self.get(ticket)

    def kpis(self, f: ComplaintFilter, worst: int = 10) -> Kpis:
        """KPIs of the complaints matching ``f`` (its status, limit and offset are ignored)."""
        where, args = _where(ComplaintFilter(station=f.station, meter=f.meter, zone=f.zone,
                                             since=f.since, until=f.until))
        with self._lock:
            rows = self._db.execute(
                f"SELECT station, meter, status, reported_at, visited_at, resolved_at, finding "
                f"FROM complaints{where}", args).fetchall()
        status = {s: 0 for s in STATUSES}
        findings: dict[str, int] = {}
        to_visit: list[float] = []
        to_resolve: list[float] = []
        per_flat: dict[tuple[str, str], int] = {}
        for station, meter, st, reported, visited, resolved, finding in rows:
            status[st] += 1
            findings[finding] = findings.get(finding, 0) + 1
            if visited is not None:
                to_visit.append(max(0.0, visited - reported) / 3600)
            if resolved is not None:
                to_resolve.append(max(0.0, resolved - reported) / 3600)
            if meter is not None:
                per_flat[(station, meter)] = per_flat.get((station, meter), 0) + 1
        repeats = {k: n for k, n in per_flat.items() if n > 1}
        ranked = sorted(repeats.items(), key=lambda kv: (-kv[1], kv[0]))[:worst]
        n = len(rows)
        return Kpis(
            complaints=n, open=status["open"], visited=status["visited"],
            resolved=status["resolved"], share_resolved=status["resolved"] / n if n else None,
            first_visit_h_median=statistics.median(to_visit) if to_visit else None,
            first_visit_h_p90=_p90(to_visit),
            resolve_h_median=statistics.median(to_resolve) if to_resolve else None,
            resolve_h_p90=_p90(to_resolve),
            repeat_complaints=sum(n - 1 for n in repeats.values()), repeat_flats=len(repeats),
            worst_flats=[(s, m, c) for (s, m), c in ranked], findings=dict(sorted(
                findings.items())))


def _where(f: ComplaintFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if f.status:
        clauses.append(f"status IN ({', '.join('?' * len(f.status))})")
        args += f.status
    for column, value in (("station", f.station), ("meter", f.meter), ("zone", f.zone)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if f.since is not None:
        clauses.append("reported_at >= ?")
        args.append(f.since)
    if f.until is not None:
        clauses.append("reported_at < ?")
        args.append(f.until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _complaint(row: tuple[Any, ...]) -> Complaint:
    (number, station, meter, zone, address, reported_at, received_at, channel, text,
     created_by, status, visited_at, visited_by, resolved_at, resolved_by, verdict) = row
    return Complaint(ticket_id(number), station, meter, zone, address, reported_at, received_at,
                     channel, text, created_by, status, visited_at, visited_by, resolved_at,
                     resolved_by, json.loads(verdict))
