"""heatwatch.selfstats: Prometheus registry -> heatwatch_internal line protocol."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from heatwatch.selfstats import SelfStatsReporter, snapshot_lines

TS = 1_700_000_000_000_000_000


def _registry() -> tuple[CollectorRegistry, Counter, Counter, Gauge]:
    r = CollectorRegistry()
    stored = Counter("hw_stored", "stored", registry=r)
    rejected = Counter("hw_rejected", "rejected", ["reason"], registry=r)
    gaps = Counter("hw_gaps", "gaps", ["station"], registry=r)
    fill = Gauge("hw_fill", "fill", registry=r)
    gaps.labels("st-1").inc(2)
    gaps.labels("st-2").inc(3)
    return r, stored, rejected, fill


def test_counters_gauges_and_labels_become_fields_and_tags() -> None:
    r, stored, rejected, fill = _registry()
    stored.inc(5)
    rejected.labels("out_of_range").inc(3)
    fill.set(0.25)
    lines = snapshot_lines(r, service="collector", instance="c1", ts_ns=TS)
    assert lines == [
        "heatwatch_internal,instance=c1,service=collector "
        f"hw_fill=0.25,hw_gaps_total=5.0,hw_stored_total=5.0 {TS}",
        "heatwatch_internal,instance=c1,reason=out_of_range,service=collector "
        f"hw_rejected_total=3.0 {TS}",
    ]


def test_dropped_label_is_summed_and_kept_when_not_dropped() -> None:
    r, *_ = _registry()
    kept = snapshot_lines(r, service="s", instance="i", ts_ns=TS, drop_labels=())
    assert any(",station=st-1 " in line and "hw_gaps_total=2.0" in line for line in kept)
    assert any(",station=st-2 " in line and "hw_gaps_total=3.0" in line for line in kept)


def test_histogram_count_and_sum_only_and_reserved_labels_renamed() -> None:
    r = CollectorRegistry()
    h = Histogram("hw_write_seconds", "latency", registry=r)
    h.observe(0.5)
    c = Counter("hw_x", "x", ["service"], registry=r)
    c.labels("other").inc()
    lines = snapshot_lines(r, service="alerts", instance="a", ts_ns=TS)
    text = "\n".join(lines)
    assert "hw_write_seconds_count=1.0" in text and "hw_write_seconds_sum=0.5" in text
    assert "bucket" not in text and "created" not in text
    assert "exported_service=other" in text and "service=alerts" in text


def test_nan_gauge_is_skipped() -> None:
    r = CollectorRegistry()
    Gauge("hw_nan", "n", registry=r).set(float("nan"))
    Gauge("hw_ok", "o", registry=r).set(1)
    lines = snapshot_lines(r, service="s", instance="i", ts_ns=TS)
    assert lines == [f"heatwatch_internal,instance=i,service=s hw_ok=1.0 {TS}"]


def test_write_failure_is_counted_and_next_report_succeeds() -> None:
    r, *_ = _registry()
    calls: list[list[str]] = []

    def flaky(lines: list[str]) -> None:
        calls.append(lines)
        if len(calls) == 1:
            raise OSError("influx down")

    rep = SelfStatsReporter(r, flaky, service="collector", instance="c1", clock=lambda: 1.0)
    assert rep.report_once() is False
    assert rep.report_once() is True
    assert (rep.failures, rep.reports, len(calls)) == (1, 1, 2)
    assert calls[1][0].endswith(" 1000000000")


def test_unexpected_error_propagates() -> None:
    r, *_ = _registry()

    def broken(lines: list[str]) -> None:
        raise KeyError("bug")

    rep = SelfStatsReporter(r, broken, service="s", instance="i")
    with pytest.raises(KeyError):
        rep.report_once()


def test_thread_reports_periodically_and_once_more_on_stop() -> None:
    r, stored, *_ = _registry()
    got: list[list[str]] = []
    two = threading.Event()

    def write(lines: list[str]) -> None:
        got.append(lines)
        if len(got) >= 2:
            two.set()

    rep = SelfStatsReporter(r, write, service="collector", instance="c1", interval=0.05)
    rep.start()
    assert two.wait(5.0)
    stored.inc(7)
    rep.stop()
    assert "hw_stored_total=7.0" in got[-1][0]
    with pytest.raises(ValueError):
        SelfStatsReporter(r, write, service="s", interval=0)
