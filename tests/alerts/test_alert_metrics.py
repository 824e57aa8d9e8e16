"""The alerts service's metrics: a registry per service, showing the process-wide ones too."""

from __future__ import annotations

from alert_helpers import T0

from alerts.metrics import AlertMetrics
from alerts.model import Alert, AlertState, Scope, Severity
from alerts.notify.dispatcher import NOTIFICATIONS
from heatwatch.selfstats import snapshot_lines


def alert(station: str, severity: Severity, state: AlertState = AlertState.FIRING) -> Alert:
    return Alert(f"a-{station}", "power_loss", station, Scope.STATION, station, "north", state,
                 severity, T0)


def test_two_services_in_one_process_count_apart() -> None:
    first, second = AlertMetrics(), AlertMetrics()
    first.readings.inc(3)
    second.rejected.inc()
    assert first.registry.get_sample_value("heatwatch_alert_readings_total") == 3
    assert second.registry.get_sample_value("heatwatch_alert_readings_total") == 0
    assert second.registry.get_sample_value("heatwatch_alert_rejected_total") == 1


def test_the_registry_shows_the_delivery_stages_counters() -> None:
    metrics = AlertMetrics()
    NOTIFICATIONS.labels("metrics-test", "sent").inc()
    labels = {"receiver": "metrics-test", "outcome": "sent"}
    assert (metrics.registry.get_sample_value("heatwatch_alert_notifications_total", labels)
            or 0) >= 1
    lines = snapshot_lines(metrics.registry, service="alerts", instance="a1",
                           ts_ns=round(T0 * 1e9))
    assert any(line.startswith("heatwatch_internal,") and "heatwatch_alert_notifications_total"
               in line for line in lines)
    assert any("heatwatch_alert_readings_total" in line for line in lines)


def test_firing_gauge_per_severity() -> None:
    metrics = AlertMetrics()
    metrics.count_firing([alert("s1", Severity.CRITICAL), alert("s2", Severity.CRITICAL),
                          alert("s3", Severity.WARNING, AlertState.PENDING)])
    value = metrics.registry.get_sample_value
    assert value("heatwatch_alerts_firing", {"severity": "critical"}) == 2
    assert value("heatwatch_alerts_firing", {"severity": "warning"}) == 0
    assert value("heatwatch_alerts_firing", {"severity": "info"}) == 0
