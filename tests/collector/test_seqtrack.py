"""Seq gap and duplicate accounting, per (station, meter)."""

from __future__ import annotations

from collector.seqtrack import SeqTracker


def test_gaps_duplicates_late_and_reset() -> None:
    t = SeqTracker(window=100)
    assert t.observe("s1", None, 1).gaps == 0
    assert t.observe("s1", None, 2).gaps == 0
    assert t.observe("s1", None, 5).gaps == 2
    assert t.observe("s1", None, 5).duplicate
    assert t.observe("s1", None, 2).duplicate
    late = t.observe("s1", None, 3)
    assert late.late and not late.duplicate and late.gaps == 0
    assert t.observe("s1", None, 1000).gaps == 994
    assert t.observe("s1", None, 1).reset  # far below the window: station restarted
    assert t.observe("s1", None, 2).gaps == 0


def test_telemetry_and_meters_are_counted_separately() -> None:
    t = SeqTracker()
    t.observe("s1", None, 10)
    t.observe("s1", "m1", 1)
    assert t.observe("s1", "m1", 2).gaps == 0
    assert t.observe("s1", None, 11).gaps == 0
    assert t.observe("s2", None, 11).gaps == 0  # other station: new baseline
    assert t.observe("s1", "m2", 7).gaps == 0
    assert len(t) == 4


def test_no_seq_is_ignored() -> None:
    t = SeqTracker()
    r = t.observe("s1", None, None)
    assert (r.gaps, r.duplicate, r.late, r.reset) == (0, False, False, False)
    assert len(t) == 0


def test_reboot_restarting_at_zero_is_a_reset_not_duplicates() -> None:
    """A logger that reboots numbers from 0 again with newer timestamps; a redelivery of an old
    reading carries its old timestamp and stays a duplicate."""
    t = SeqTracker()
    for seq in range(6):
        t.observe("s", None, seq, ts_ns=seq * 10)
    assert t.observe("s", None, 2, ts_ns=20).duplicate  # redelivered
    assert t.observe("s", None, 0, ts_ns=100).reset  # rebooted
    results = [t.observe("s", None, seq, ts_ns=100 + seq * 10) for seq in range(1, 6)]
    assert not any(r.duplicate or r.gaps or r.reset for r in results)


def test_duplicate_is_told_by_value_not_by_arrival_count() -> None:
    # Many redeliveries of one value must not push others out of memory: only the distance
    # below the highest seq decides what is remembered.
    t = SeqTracker(window=8)
    for s in (1, 2, 3, 4):
        t.observe("a", None, s, s)
    for _ in range(10):
        assert t.observe("a", None, 4, 4).duplicate
    assert t.observe("a", None, 2, 2).duplicate
    assert t.observe("a", None, 0, 0).late  # within the window, never seen: a late arrival
