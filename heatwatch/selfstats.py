"""Self-monitoring into InfluxDB: snapshots of a Prometheus registry as line protocol.

Why not just Prometheus? The Grafana of a heatwatch deployment reads InfluxDB only (one data
source, one backup, one retention policy), and the pipeline-health dashboard must sit next to the
telemetry it explains. So every service keeps counting with prometheus-client (``/metrics`` stays
for anyone who scrapes) and a :class:`SelfStatsReporter` thread copies the counters and gauges
into the measurement ``heatwatch_internal`` every few seconds.

The reporter does not write to InfluxDB itself: it hands lines to a ``write(lines)`` callable, so
the collector can push them through its own writer and spool (an InfluxDB outage then delays the
pipeline's statistics exactly like the telemetry, and loses neither).

Line shape (one line per service, instance and label set, all fields of that label set together,
like Telegraf's prometheus ``metric_version = 2``)::

    heatwatch_internal,instance=host-a,reason=out_of_range,service=collector \
        heatwatch_collector_readings_rejected_total=3.0 1700000000000000000

* counters as ``<name>_total``; gauges under their name; histograms and summaries as ``_count``
  and ``_sum`` only (buckets would multiply the series for a view nobody draws here);
  ``_created`` timestamps are skipped;
* every value is a float, always, so a field never changes type (InfluxDB refuses that);
* labels listed in ``drop_labels`` are summed away (default ``station``: a per-station
  counter would be 20,000 series in a city where the dashboard wants the total; no service
  labels by station today, the collector's ``seq`` counters are totals and its log summary
  names the stations);
* a label called ``service`` or ``instance`` is written as ``exported_service`` /
  ``exported_instance``, as Prometheus does, so it cannot overwrite the reporter's own tags.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry

from heatwatch.lineproto import format_line

__all__ = ["MEASUREMENT", "SelfStatsReporter", "snapshot_lines"]

MEASUREMENT = "heatwatch_internal"
_RESERVED_TAGS = frozenset({"service", "instance"})
_SKIP_SUFFIXES = ("_created", "_bucket")
_SKIP_TYPES = frozenset({"info", "stateset", "unknown"})
_DEFAULT_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, ValueError)

log = logging.getLogger(__name__)

Writer = Callable[[list[str]], object]


def _wanted(metric_type: str, sample_name: str) -> bool:
    if metric_type in _SKIP_TYPES:
        return False
    if sample_name.endswith(_SKIP_SUFFIXES):
        return False
    if metric_type in ("histogram", "summary", "gaugehistogram"):
        return sample_name.endswith(("_count", "_sum", "_gcount", "_gsum"))
    return True


def snapshot_lines(
    registry: CollectorRegistry,
    *,
    service: str,
    instance: str,
    ts_ns: int,
    drop_labels: Iterable[str] = ("station",),
    measurement: str = MEASUREMENT,
) -> list[str]:
    """Line protocol for the current values of ``registry`` (see the module docstring).

    Pure function of the registry's state: the reporter thread and the tests share it.
    """
    dropped = frozenset(drop_labels)
    # label set (sorted tag tuples) -> field name -> value
    points: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if not _wanted(metric.type, sample.name):
                continue
            value = float(sample.value)
            if not math.isfinite(value):
                continue  # a NaN gauge means "unknown"; InfluxDB cannot store it anyway
            tags = {
                (f"exported_{k}" if k in _RESERVED_TAGS else k): v
                for k, v in sample.labels.items()
                if k not in dropped
            }
            key = tuple(sorted(tags.items()))
            fields = points.setdefault(key, {})
            fields[sample.name] = fields.get(sample.name, 0.0) + value
    lines = []
    for key in sorted(points):
        tag_list = sorted([*key, ("instance", instance), ("service", service)])
        fields = dict(sorted(points[key].items()))
        lines.append(format_line(measurement, tag_list, fields, ts_ns))
    return lines


class SelfStatsReporter:
    """A daemon thread that calls ``write(snapshot_lines(...))`` every ``interval`` seconds.

    ``write`` failures of the types in ``errors`` are logged and counted in :attr:`failures`,
    and the next tick tries again with a fresh snapshot (counters are cumulative, so a lost
    snapshot only thins the graph). Anything else is a bug and ends the thread loudly.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        write: Writer,
        *,
        service: str,
        instance: str | None = None,
        interval: float = 10.0,
        drop_labels: Sequence[str] = ("station",),
        errors: tuple[type[BaseException], ...] = _DEFAULT_ERRORS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        self.registry = registry
        self.write = write
        self.service = service
        self.instance = instance or socket.gethostname()
        self.interval = interval
        self.drop_labels = tuple(drop_labels)
        self.errors = errors
        self.clock = clock
        self.reports = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> list[str]:
        return snapshot_lines(
            self.registry,
            service=self.service,
            instance=self.instance,
            ts_ns=int(self.clock() * 1e9),
            drop_labels=self.drop_labels,
        )

    def report_once(self) -> bool:
        """Snapshot and write now; True if ``write`` accepted the lines."""
        lines = self.snapshot()
        if not lines:
            return True
        try:
            self.write(lines)
        except self.errors as exc:
            self.failures += 1
            log.warning("self-stats: writing %d lines failed: %s", len(lines), exc)
            return False
        self.reports += 1
        return True

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("reporter already started")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"selfstats-{self.service}", daemon=True
        )
        self._thread.start()

    def stop(self, *, final_report: bool = True, timeout: float = 10.0) -> None:
        """Stop the thread; by default write one last snapshot so the final counts are kept."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if final_report:
            self.report_once()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report_once()
