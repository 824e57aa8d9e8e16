"""The low-rate log: however many events, at most one line per interval."""

from __future__ import annotations

import logging

import pytest

from collector.summary import SummaryLog


def test_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    summary = SummaryLog(logging.getLogger("t.summary"), 60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "t.summary")
    for i in range(10_000):
        summary.rejected["wrong_type"] += 1
        summary.gaps[f"st-{i % 3}"] += 1
        summary.late["st-late"] += 1
        summary.unregistered["new-1"] += 1
        now[0] += 0.001  # 10 s in all
        summary.maybe_log()
    assert caplog.records == []
    now[0] = 61.0
    assert summary.maybe_log()
    [record] = caplog.records
    assert record.levelno == logging.WARNING  # gaps are a warning
    text = record.getMessage()
    assert "rejected 10000 [wrong_type=10000]" in text
    assert "seq gaps 10000" in text
    assert "seq late 10000 [st-late=10000]" in text
    assert "unregistered stations" in text and "new-1" in text
    assert not summary.maybe_log(force=True), "nothing new: no line"
