"""Prometheus metrics of one alerts service, on a registry of its own.

Like the collector's (:mod:`collector.metrics`) and the API's (:mod:`api.metrics`): several
services in one process (the tests start a few) each count their own readings and firing
alerts instead of sharing module-level series. The registry also shows the process's default
one (the delivery stages' counters, the breaker gauges, process statistics), so ``/metrics``
and the self-statistics written to InfluxDB carry the same names as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from alerts.model import Alert, AlertState, Severity

__all__ = ["AlertMetrics"]


class _Process(Collector):
    """The process-wide default registry, seen through a service's own registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()

    def describe(self) -> Iterable[Metric]:
        return ()  # no names claimed: the default registry checks its own for duplicates


class AlertMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.readings = Counter(
            "heatwatch_alert_readings_total", "Readings observed by the alert engine",
            registry=r)
        self.rejected = Counter(
            "heatwatch_alert_rejected_total", "Messages the alert engine could not decode",
            registry=r)
        self.evaluate = Histogram(
            "heatwatch_alert_evaluate_seconds", "Duration of one engine evaluation", registry=r)
        self.firing = Gauge("heatwatch_alerts_firing", "Alerts firing now", ["severity"],
                            registry=r)
        r.register(_Process())

    def count_firing(self, alerts: Iterable[Alert]) -> None:
        """Set the firing gauge per severity (0 for severities with none firing)."""
        counts = dict.fromkeys(Severity, 0)
        for alert in alerts:
            if alert.state is AlertState.FIRING:
                counts[alert.severity] += 1
        for severity, n in counts.items():
            self.firing.labels(severity.value).set(n)
