"""Seq gap and duplicate accounting, per (station, meter)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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


def test_extend_takes_only_the_next_run_of_a_known_key() -> None:
    t = SeqTracker(window=16)
    assert not t.extend("s", None, 0, 5, 50)  # unknown key: observed one by one instead
    t.observe("s", None, 0, 0)
    assert not t.extend("s", None, 3, 2, 40)  # not the next value: a gap to count
    assert t.extend("s", None, 1, 5, 50)
    assert t.observe("s", None, 6, 60).gaps == 0
    assert t.observe("s", None, 3, 30).duplicate
    assert t.observe("s", None, 7, 70).gaps == 0


@given(
    start=st.lists(st.integers(0, 40), max_size=6),
    runs=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 40)), max_size=6),
    probes=st.lists(st.integers(0, 140), max_size=10),
)
def test_extend_is_observing_the_run_one_by_one(
    start: list[int], runs: list[tuple[int, int]], probes: list[int]
) -> None:
    """Whatever came before, an accepted run leaves the tracker exactly as observing each of
    its values would: the same answers for every later reading."""
    one, many = SeqTracker(window=32), SeqTracker(window=32)
    for seq in start:
        one.observe("s", None, seq, seq)
        many.observe("s", None, seq, seq)
    for first, count in runs:
        last = first + count - 1
        if not many.extend("s", None, first, count, last):
            for seq in range(first, last + 1):
                many.observe("s", None, seq, seq)
        for seq in range(first, last + 1):
            one.observe("s", None, seq, seq)
    assert [one.observe("s", None, p, p) for p in probes] == [
        many.observe("s", None, p, p) for p in probes
    ]


def test_a_huge_jump_is_counted_not_a_memory_error() -> None:
    """Found by the fuzz test: a seq jumping by 2^62 made the bitmask shift by 2^62 bits."""
    t = SeqTracker(window=16)
    t.observe("s", None, 0, 0)
    assert t.observe("s", None, 2**62, 10).gaps == 2**62 - 1
    assert t.observe("s", None, 2**62 + 1, 20).gaps == 0
    assert t.observe("s", None, 2**62, 10).duplicate


@given(seqs=st.lists(st.one_of(st.integers(0, 2**63 - 1), st.integers(0, 50)), max_size=30))
def test_any_valid_seq_is_accounted_without_error(seqs: list[int]) -> None:
    t = SeqTracker(window=64)
    for i, seq in enumerate(seqs):
        r = t.observe("s", None, seq, i)
        assert r.gaps >= 0
    assert len(t) == (1 if seqs else 0)
