"""The spool: FIFO order, durability across reopen, size bound, 80 % alarm, torn tails."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolError, SpoolFull


def drain(spool: Spool, max_lines: int = 1000) -> list[str]:
    out: list[str] = []
    while (chunk := spool.peek(max_lines)) is not None:
        out.extend(chunk.lines)
        spool.commit(chunk)
    return out


def test_append_then_replay_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    batches = [[f"m v={i * 10 + j} {i * 10 + j}" for j in range(10)] for i in range(50)]
    for batch in batches:
        spool.append(batch)
    assert len(list(tmp_path.glob("seg-*.spool"))) > 1, "segments must rotate"
    assert drain(spool, 25) == [line for batch in batches for line in batch]
    assert not spool
    assert spool.size_bytes == 0
    assert list(tmp_path.glob("seg-*.spool")) == [], "replayed segments are deleted"


def test_peek_without_commit_returns_the_same_chunk(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(["a v=1 1"])
    first = spool.peek(10)
    again = spool.peek(10)
    assert first is not None and again is not None
    assert first.lines == again.lines == ["a v=1 1"]


def test_survives_sigkill_and_appends_after_old_data(tmp_path: Path) -> None:
    child = (
        "import os, signal, sys\n"
        "from collector.spool import Spool\n"
        "s = Spool(sys.argv[1], max_bytes=1 << 20)\n"
        "s.append(['a v=1 1', 'a v=2 2'])\n"
        "s.append(['a v=3 3'])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", child, str(tmp_path)], cwd=repo, check=False)
    assert proc.returncode == -signal.SIGKILL
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.pending_bytes > 0
    reopened.append(["a v=4 4"])
    assert drain(reopened) == ["a v=1 1", "a v=2 2", "a v=3 3", "a v=4 4"]


def test_one_process_per_directory(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1 << 20)
    with pytest.raises(SpoolError, match="in use by another collector"):
        Spool(tmp_path, max_bytes=1 << 20)
    first.close()
    Spool(tmp_path, max_bytes=1 << 20).close()


def test_size_bound_raises_spool_full_and_writes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=64 * 1024, segment_bytes=16 * 1024)
    line = "m " + "x" * 1000 + "=1 1"
    appended = 0
    with pytest.raises(SpoolFull):
        while True:
            spool.append([line])
            appended += 1
    size = spool.size_bytes
    assert 60 * 1024 < size <= 64 * 1024
    with pytest.raises(SpoolFull):
        spool.append([line])
    assert spool.size_bytes == size
    assert len(drain(spool)) == appended
    spool.append([line])  # room again once replayed


def test_alarm_fires_once_per_crossing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100 * 1024, segment_bytes=10 * 1024, alarm_ratio=0.8)
    line = "m " + "y" * 1000 + "=1 1"
    crossings = []
    for _ in range(95):
        before = spool.fill_ratio
        if spool.append([line]):
            crossings.append((before, spool.fill_ratio))
    assert len(crossings) == 1
    before, after = crossings[0]
    assert before < 0.8 <= after
    drain(spool)
    assert not spool.alarmed
    assert [spool.append([line]) for _ in range(95)].count(True) == 1, "re-arms after draining"


def test_torn_tail_is_skipped_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(["a v=1 1"])
    spool.append(["a v=2 2"])
    spool.close()
    segment = next(tmp_path.glob("seg-*.spool"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # SIGKILL in the middle of the second record
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    reopened.append(["a v=3 3"])
    assert drain(reopened) == ["a v=1 1", "a v=3 3"]
    assert reopened.corrupt_tails == 1
