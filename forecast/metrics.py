"""Prometheus counters of the forecast input (exported by the service that runs it)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["FETCH_FAILURES", "LATEST_ISSUE", "RECEIVED", "REJECTED", "STORED", "STORE_DROPPED"]

RECEIVED = Counter("heatwatch_forecast_received_total",
                   "forecast issues accepted into the book", ["source"])
REJECTED = Counter("heatwatch_forecast_rejected_total",
                   "forecast messages or HTTP attempts refused, by reason", ["source", "reason"])
FETCH_FAILURES = Counter("heatwatch_forecast_fetch_failures_total",
                         "polls given up after every retry failed", ["zone"])
STORED = Counter("heatwatch_forecast_points_stored_total",
                 "weather_forecast points written to InfluxDB")
STORE_DROPPED = Counter("heatwatch_forecast_store_dropped_total",
                        "forecast issues not stored (InfluxDB refused them or the queue was "
                        "full)", ["reason"])
# time() - this is how old a zone's forecast is: alert on it if a feed stops.
LATEST_ISSUE = Gauge("heatwatch_forecast_latest_issued_at_seconds",
                     "issue time (epoch s) of the newest forecast in the book, per zone", ["zone"])
