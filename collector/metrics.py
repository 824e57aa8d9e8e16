"""Prometheus metrics for one collector, on a private registry.

A private :class:`CollectorRegistry` per :class:`collector.service.Collector` lets tests run
several collectors in one process (shared subscription) without "duplicated timeseries" errors,
and lets each expose its own ``/metrics`` port.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from heatwatch.settings import ConfigError

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "heatwatch_collector_"
        self.messages = Counter(f"{p}messages_received", "MQTT messages received", registry=r)
        self.readings = Counter(f"{p}readings_received", "Valid readings decoded", registry=r)
        self.stored = Counter(f"{p}readings_stored", "Lines written to InfluxDB", registry=r)
        self.rejected = Counter(
            f"{p}readings_rejected", "Readings rejected, by reason", ["reason"], registry=r
        )
        self.dropped_fields = Counter(
            f"{p}dropped_fields", "Unknown non-numeric fields dropped", registry=r
        )
        self.dead_lettered = Counter(
            f"{p}dead_lettered", "Entries written to the dead-letter sink", registry=r
        )
        self.spooled = Counter(f"{p}lines_spooled", "Lines appended to the spool", registry=r)
        self.replayed = Counter(f"{p}lines_replayed", "Lines replayed from the spool", registry=r)
        self.spool_bytes = Gauge(f"{p}spool_bytes", "Spool size on disk", registry=r)
        self.spool_fill = Gauge(f"{p}spool_fill_ratio", "Spool size / max_bytes", registry=r)
        self.spool_alarms = Counter(
            f"{p}spool_alarms", "Times the spool passed its alarm ratio", registry=r
        )
        self.spool_full = Counter(
            f"{p}spool_full", "Batches held back because the spool was full", registry=r
        )
        self.write_errors = Counter(
            f"{p}write_errors", "Failed InfluxDB writes, by kind", ["kind"], registry=r
        )
        for kind in ("retryable", "refused"):  # exported at 0 from the start, so a rate of
            self.write_errors.labels(kind)    # them reads 0, not "no data", on a healthy day
        self.spool_corrupt = Counter(
            f"{p}spool_corrupt_records",
            "Corrupt spool records skipped by resynchronising on the next valid one", registry=r
        )
        self.field_conflicts = Counter(
            f"{p}field_type_conflicts",
            "Extra fields dropped from a stored reading: their type differs from the stored one",
            registry=r,
        )
        self.extra_fields_capped = Counter(
            f"{p}extra_fields_capped",
            "Extra fields dropped: their station already has validation.max_extra_names names",
            registry=r,
        )
        self.deadletter_failures = Counter(
            f"{p}deadletter_write_failures",
            "Dead-letter writes that failed (the batch stays unacked until one succeeds)",
            registry=r,
        )
        self.write_latency = Histogram(
            f"{p}write_seconds",
            "InfluxDB write latency",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.batch_size = Histogram(
            f"{p}batch_lines",
            "Lines per flushed batch",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000),
            registry=r,
        )
        # Totals only: a ``station`` label would be one series per station and kind (60,000 at
        # city scale, for counters that are zero nearly everywhere). Which stations lose
        # readings is in the log summary (top stations per ``metrics.log_interval``).
        self.seq_gaps = Counter(f"{p}seq_gaps", "Readings missing according to seq", registry=r)
        self.seq_duplicates = Counter(
            f"{p}seq_duplicates", "Readings seen twice according to seq", registry=r
        )
        self.seq_late = Counter(
            f"{p}seq_late", "Readings arriving after a higher seq", registry=r
        )
        self.seq_gap_alarms = Counter(
            f"{p}seq_gap_alarms", "Gaps seen (any station)", registry=r
        )
        self.unregistered = Counter(
            f"{p}unregistered_readings", "Readings from stations not in the registry", registry=r
        )
        self.unregistered_stations = Gauge(
            f"{p}unregistered_stations", "Distinct unregistered stations seen", registry=r
        )
        self.connects = Counter(f"{p}mqtt_connects", "Successful MQTT connects", registry=r)
        self.disconnects = Counter(f"{p}mqtt_disconnects", "MQTT connection losses", registry=r)
        self.window_overruns = Counter(
            f"{p}receive_window_overruns",
            "Times reads paused with receive_maximum messages waiting (MQTT 5: broker overran)",
            registry=r,
        )
        self.queue_depth = Gauge(f"{p}queue_depth", "Messages received, not yet acked", registry=r)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, host: str, port: int) -> int:
        """Start ``/metrics`` on host:port (port 0 disables). Returns the bound port or 0."""
        if port == 0:
            return 0
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"metrics: cannot listen on {host}:{port}: {exc.strerror} "
                "(set metrics.port, or 0 to disable)"
            ) from exc
        self._server, self._thread = server, thread
        bound: int = server.server_port
        return bound

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
