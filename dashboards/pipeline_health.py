"""Pipeline health: is heatwatch itself working? Reads ``heatwatch_internal``.

Those points come from :class:`heatwatch.selfstats.SelfStatsReporter` in each service: their
Prometheus counters copied into InfluxDB, one field per metric (``<name>_total`` for counters),
tags ``service``, ``instance`` and the metric's labels. Counters are cumulative, so panels show
``non_negative_derivative`` (per-second rates that survive a service restart).
"""

from __future__ import annotations

from dashboards.influxql import TIME, rate
from dashboards.model import Dashboard, Panel, Query, Threshold, Variable

__all__ = ["pipeline_health"]

C = "heatwatch_collector_"
_INSTANCE = Variable(
    name="instance",
    label="Instance",
    query='SHOW TAG VALUES FROM "heatwatch_internal" WITH KEY = "instance"',
)
_WHERE = f'WHERE "instance" =~ /^$instance$/ AND {TIME}'


def _gauge(field: str, label: str) -> Query:
    return Query(
        f'SELECT max("{field}") AS "{label}" FROM "heatwatch_internal" {_WHERE} '
        'GROUP BY time($__interval), "instance" fill(none)',
        alias=f"$tag_instance {label}",
    )


def _throughput() -> Panel:
    return Panel(
        "Collector: received and stored readings",
        "timeseries",
        [
            Query(rate(f"{C}messages_received_total"), alias="$tag_instance messages received"),
            Query(rate(f"{C}readings_received_total"), alias="$tag_instance readings received"),
            Query(rate(f"{C}readings_stored_total"), alias="$tag_instance stored"),
        ],
        w=12,
        unit="reqps",
        description="Per second, per collector. Stored should track received; a gap that "
        "persists means readings are waiting in the spool or at the broker.",
    )


def _rejected() -> Panel:
    return Panel(
        "Collector: rejected readings by reason",
        "timeseries",
        [Query(rate(f"{C}readings_rejected_total", by="reason"),
               alias="$tag_instance $tag_reason")],
        w=12,
        unit="reqps",
        description="Validation rejections (docs/wire-format.md lists the reasons); every one "
        "is in the dead-letter file and on {prefix}/_rejected.",
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}},
    )


def _spool() -> Panel:
    return Panel(
        "Collector: spool",
        "timeseries",
        [
            Query(rate(f"{C}lines_spooled_total"), alias="$tag_instance spooled /s"),
            Query(rate(f"{C}lines_replayed_total"), alias="$tag_instance replayed /s"),
            _gauge(f"{C}spool_fill_ratio", "fill ratio"),
        ],
        w=12,
        description="Lines parked on disk while InfluxDB is down or slow, and replayed after. "
        "At the alarm ratio (default 0.8) the collector warns; when full it stops acking.",
    )


def _health() -> Panel:
    return Panel(
        "Collector: write errors, seq gaps, backlog",
        "timeseries",
        [
            Query(rate(f"{C}write_errors_total", by="kind"),
                  alias="$tag_instance errors $tag_kind"),
            Query(rate(f"{C}seq_gaps_total"), alias="$tag_instance seq gaps /s"),
            Query(rate(f"{C}seq_duplicates_total"), alias="$tag_instance seq duplicates /s"),
            Query(rate(f"{C}seq_late_total"), alias="$tag_instance seq late /s"),
            _gauge(f"{C}queue_depth", "unacked messages"),
        ],
        w=12,
        description="Failed InfluxDB writes by kind, readings missing according to the "
        "stations' seq counters (lost between station and collector), seen twice (broker "
        "redeliveries, harmless) or late (filling an earlier gap), and messages received but "
        "not yet acknowledged. Fleet totals: the collector's log summary names the stations "
        "(the ten with the most of each per metrics.log_interval).",
    )


def _write_latency() -> Panel:
    return Panel(
        "Collector: mean InfluxDB write latency",
        "timeseries",
        [
            Query(
                f'SELECT non_negative_derivative(max("{C}write_seconds_sum"), 1s) / '
                f'non_negative_derivative(max("{C}write_seconds_count"), 1s) AS "latency" '
                f'FROM "heatwatch_internal" {_WHERE} GROUP BY time($__interval), "instance" '
                "fill(none)",
                alias="$tag_instance",
            )
        ],
        w=12,
        unit="s",
        description="Mean time per batch write (sum / count of the write histogram).",
        thresholds=(Threshold("green"), Threshold("orange", 1), Threshold("red", 5)),
    )


def _alert_engine() -> Panel:
    return Panel(
        "Alert engine: readings evaluated and evaluation time",
        "timeseries",
        [
            Query(rate("heatwatch_alert_readings_total"), alias="$tag_instance readings /s"),
            Query(rate("heatwatch_alert_rejected_total"), alias="$tag_instance undecodable /s"),
            Query(
                'SELECT non_negative_derivative(max("heatwatch_alert_evaluate_seconds_sum"), 1s)'
                ' / non_negative_derivative(max("heatwatch_alert_evaluate_seconds_count"), 1s) '
                f'AS "evaluation" FROM "heatwatch_internal" {_WHERE} '
                'GROUP BY time($__interval), "instance" fill(none)',
                alias="$tag_instance mean evaluation (s)",
            ),
        ],
        w=12,
        description="Readings the engine consumed (it should track the collector's received "
        "rate), messages it could not decode, and the mean duration of one evaluation pass. "
        "A flat readings line with a live collector means the engine is not seeing the stream.",
    )


def _firing() -> Panel:
    return Panel(
        "Alert engine: firing alerts by severity",
        "timeseries",
        [Query(
            'SELECT max("heatwatch_alerts_firing") FROM "heatwatch_internal" '
            f'{_WHERE} GROUP BY time($__interval), "instance", "severity" fill(none)',
            alias="$tag_instance $tag_severity",
        )],
        w=12,
        description="Alerts in state firing, as the engine counts them.",
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}},
    )


def _alerts() -> Panel:
    return Panel(
        "Alert engine: events and notifications",
        "timeseries",
        [
            Query(rate("heatwatch_alert_events_written_total"),
                  alias="$tag_instance events written"),
            Query(rate("heatwatch_alert_events_dropped_total"),
                  alias="$tag_instance events dropped"),
            Query(rate("heatwatch_alert_notifications_total", by="outcome"),
                  alias="$tag_instance notifications $tag_outcome"),
        ],
        w=12,
        unit="reqps",
        description="alert_events points written to InfluxDB (annotations) and refused, and "
        "notification attempts by outcome. Dropped events or failed notifications need a look.",
    )


def pipeline_health() -> Dashboard:
    return Dashboard(
        uid="heatwatch-pipeline",
        title="heatwatch / Pipeline health",
        description="heatwatch's own counters: collector throughput, rejections, spool, write "
        "errors, and the alert engine.",
        panels=[_throughput(), _rejected(), _spool(), _health(), _write_latency(),
                _alert_engine(), _firing(), _alerts()],
        variables=[_INSTANCE],
        tags=("heatwatch", "pipeline"),
        time_from="now-6h",
        refresh="30s",
    )
