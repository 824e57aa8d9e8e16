"""``AlertEventSink``: every alert state change into InfluxDB (``alert_events``) for Grafana.

Grafana draws them as annotations (``SELECT title, text, tags FROM alert_events``) on the
same dashboards as the telemetry, so a crew sees the alert next to the curve that caused it.
The sink reads the SQLite event log through a cursor and advances it only after InfluxDB
accepted the batch: an InfluxDB outage delays annotations, it never loses them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from alerts.model import AlertEvent
from alerts.rows import EventRecord
from alerts.store import Store
from heatwatch.influx import InfluxClient, WriteError
from heatwatch.lineproto import format_line
from heatwatch.settings import InfluxSettings

__all__ = ["AlertEventSink", "SinkError", "event_line"]

MEASUREMENT = "alert_events"
CURSOR = "influx_alert_events"
WRITTEN = Counter("heatwatch_alert_events_written_total", "alert_events points written")
DROPPED = Counter("heatwatch_alert_events_dropped_total", "alert_events points InfluxDB refused")


class SinkError(RuntimeError):
    """InfluxDB could not take the batch now; the cursor stays, the next drain retries."""


def event_line(record: EventRecord, measurement: str = MEASUREMENT) -> str:
    """One line-protocol point for one event (nanosecond timestamp = event time)."""
    event: AlertEvent = record.event
    alert = event.alert
    tags = {"rule": alert.rule, "event": event.kind.value, "severity": alert.severity.value}
    if alert.station:
        tags["station"] = alert.station
    if alert.zone:
        tags["zone"] = alert.zone
    title = f"{alert.rule} {event.kind.value}"
    text = alert.summary
    if alert.acked_by and event.kind.value == "acknowledged":
        text = f"acked by {alert.acked_by}: {alert.ack_comment or ''}"
        if alert.assignee:
            text += f" (assigned to {alert.assignee})"
    fields: dict[str, float | int | bool | str] = {
        "alert_id": alert.id,
        "title": title,
        # Grafana shows annotation text on one line; an operator's comment may have several.
        "text": text.replace("\n", " "),
        "tags": ",".join(v for v in (alert.rule, alert.station, alert.zone,
                                     alert.severity.value) if v),
        "seq": event.seq,
        "flapping": alert.flapping,
        "muted": record.muted,
        "inhibited": record.inhibited,
    }
    if alert.value is not None:
        fields["value"] = float(alert.value)
    return format_line(measurement, sorted((k, v) for k, v in tags.items() if v), fields,
                       round(event.ts * 1e9))


class AlertEventSink:
    """Writes ``alert_events`` through :class:`heatwatch.influx.InfluxClient` (``/write`` or,
    with ``transport: v2``, ``/api/v2/write``). It never creates the database: on InfluxDB 2.x
    the 1.x-compatible ``/write`` serves a bucket that cannot be created that way."""

    def __init__(self, settings: InfluxSettings, *, measurement: str = MEASUREMENT) -> None:
        self.measurement = measurement
        self._influx = InfluxClient(settings)

    def write(self, records: Iterable[EventRecord]) -> int:
        """Write a batch; return how many points InfluxDB accepted (0 if it refused them)."""
        return self.write_lines([event_line(r, self.measurement) for r in records])

    def write_lines(self, lines: list[str]) -> int:
        """Write ready line protocol (also the engine's self-statistics, heatwatch.selfstats)."""
        if not lines:
            return 0
        try:
            self._influx.write(lines)
        except WriteError as exc:
            if exc.status is None or exc.status >= 500:
                raise SinkError(str(exc)) from exc
            # Any 4xx (a malformed batch, a missing database): retrying would block the log
            # for ever; count it and move on.
            DROPPED.inc(len(lines))
            return 0
        WRITTEN.inc(len(lines))
        return len(lines)

    def drain(self, store: Store, *, batch: int = 5000) -> int:
        """Write every logged event not yet in InfluxDB; returns points written."""
        total = 0
        while True:
            position = store.cursor(CURSOR)
            rows = store.events(after=position, limit=batch)
            if not rows:
                return total
            total += self.write(r for _, r in rows)
            store.set_cursor(CURSOR, rows[-1][0])

    def close(self) -> None:
        self._influx.close()
