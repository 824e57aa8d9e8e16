"""``AlertEventSink``: every alert state change into InfluxDB (``alert_events``) for Grafana.

Grafana draws them as annotations (``SELECT title, text, tags FROM alert_events``) on the
same dashboards as the telemetry, so a crew sees the alert next to the curve that caused it.
The sink reads the SQLite event log through a cursor and advances it only after InfluxDB
accepted the batch: an InfluxDB outage delays annotations, it never loses them.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client import Counter

from alerts.model import AlertEvent
from alerts.store import EventRecord, Store
from heatwatch.lineproto import format_line

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
    """Writes ``alert_events`` through the InfluxDB 1.x HTTP ``/write`` API (httpx)."""

    def __init__(
        self, url: str, database: str, *, timeout: float = 10.0,
        client: httpx.Client | None = None, measurement: str = MEASUREMENT,
        username: str | None = None, password: str | None = None, token: str | None = None,
    ) -> None:
        """``username``/``password`` for InfluxDB 1.x auth; ``token`` for the 1.x-compatible
        ``/write`` of InfluxDB 2.x (database = bucket), sent as ``Authorization: Token``."""
        self.url = url.rstrip("/")
        self.database = database
        self.measurement = measurement
        self._params = {"db": database, "precision": "ns"}
        if username is not None:
            self._params |= {"u": username, "p": password or ""}
        self._headers = {"Authorization": f"Token {token}"} if token else {}
        self._client = client or httpx.Client(timeout=timeout)

    def write(self, records: Iterable[EventRecord]) -> int:
        """Write a batch; return how many points InfluxDB accepted (0 if it refused them)."""
        return self.write_lines([event_line(r, self.measurement) for r in records])

    def write_lines(self, lines: list[str]) -> int:
        """Write ready line protocol (also the engine's self-statistics, heatwatch.selfstats)."""
        if not lines:
            return 0
        try:
            resp = self._client.post(
                f"{self.url}/write",
                params=self._params,
                headers=self._headers,
                content="\n".join(lines).encode(),
            )
        except httpx.HTTPError as exc:
            raise SinkError(f"InfluxDB unreachable: {exc}") from exc
        if resp.status_code >= 500:
            raise SinkError(f"InfluxDB {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            # A malformed batch would block the log for ever: count it and move on.
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
        self._client.close()
