"""The dead-letter file: durable before the ack, and rotated by size so it cannot fill the disk."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from collector.deadletter import DeadLetter


def _entries(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_flush_appends_every_entry_and_publishes_it(tmp_path: Path) -> None:
    published: list[tuple[str, bytes]] = []
    dl = DeadLetter(tmp_path / "rej.jsonl", lambda t, p: published.append((t, p)),
                    "heat/_rejected")
    dl.add_raw("decoder_error", "boom", "heat/S-1/telemetry", b"{")
    dl.add_refused_line("telemetry,station=S-1 x=1 1", "field type conflict")
    assert dl.flush() == 2
    assert dl.flush() == 0
    entries = _entries(tmp_path / "rej.jsonl")
    assert [e["reason"] for e in entries] == ["decoder_error", "influx_refused"]
    assert [t for t, _ in published] == ["heat/_rejected"] * 2


def test_full_file_is_rotated_and_only_keep_rotated_files_remain(tmp_path: Path) -> None:
    path = tmp_path / "rej.jsonl"
    dl = DeadLetter(path, None, "heat/_rejected", max_bytes=1024, keep=2)
    written = 0
    for i in range(40):
        dl.add_refused_line("x" * 200, f"entry {i}")
        written += dl.flush()
        rotated = sorted(tmp_path.glob("rej.jsonl.*"))
        for n, p in enumerate(rotated):  # distinct mtimes, so "newest" is well defined
            os.utime(p, (n, n))
    assert written == 40
    rotated = sorted(tmp_path.glob("rej.jsonl.*"))
    assert len(rotated) == 2 and dl.rotations > 2
    assert path.stat().st_size <= 1024
    for p in [*rotated, path]:
        assert p.stat().st_size <= 1024
        assert all(e["reason"] == "influx_refused" for e in _entries(p))
    # The newest entries survive: the live file holds the last one.
    assert _entries(path)[-1]["detail"] == "entry 39"


def test_keep_zero_keeps_every_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "rej.jsonl"
    dl = DeadLetter(path, None, "heat/_rejected", max_bytes=1024, keep=0)
    for i in range(30):
        dl.add_refused_line("x" * 200, f"entry {i}")
        dl.flush()
    files = [*tmp_path.glob("rej.jsonl.*"), path]
    assert sum(len(_entries(p)) for p in files) == 30
