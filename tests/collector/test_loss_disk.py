"""Issue #13 items 3, 4 and 7: a full disk and a corrupt spool record must not lose readings.

Disk full is real kernel behaviour, not a patched ``os.write``: the dead-letter file is
``/dev/full`` (every write fails with ENOSPC), and the spool runs under a lowered
``RLIMIT_FSIZE`` (writes past the limit fail with EFBIG, as on a full file system) with
SIGXFSZ ignored. Both work without root and take milliseconds.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from collector_helpers import Publisher, collector_settings, telemetry
from support import wait_for

from collector.config import CollectorSettings
from collector.deadletter import DeadLetter
from collector.service import Collector
from collector.spool import Spool, SpoolError
from heatwatch.local.servers import InfluxServer, MosquittoServer

DEV_FULL = Path("/dev/full")


@contextlib.contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def drain(spool: Spool) -> list[str]:
    out: list[str] = []
    while (chunk := spool.peek(1000)) is not None:
        out.extend(chunk.lines)
        spool.commit(chunk)
    return out


# -- item 3: the dead-letter write fails ---------------------------------------------------

@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_deadletter_on_full_disk_raises_and_keeps_every_entry() -> None:
    dl = DeadLetter(DEV_FULL, None, "heat/_rejected")
    dl.add_refused_line("telemetry,station=s x=1 1", "refused")
    with pytest.raises(OSError):
        dl.flush()
    assert len(dl) == 1, "entries stay buffered until a write succeeds"
    assert dl.written == 0


def test_deadletter_partial_write_leaves_no_half_line(tmp_path: Path) -> None:
    path = tmp_path / "rej.jsonl"
    dl = DeadLetter(path, None, "heat/_rejected")
    dl.add_refused_line("a" * 100, "first")
    dl.flush()
    good = path.read_bytes()
    for i in range(50):
        dl.add_refused_line("b" * 200, f"entry {i}")
    with file_size_limit(len(good) + 5000), pytest.raises(OSError):
        dl.flush()  # the kernel writes what fits, then refuses the rest
    assert path.read_bytes() == good, "the file is cut back to its last whole line"
    assert len(dl) == 50
    assert dl.flush() == 50  # room again: every entry, once, whole
    assert len(path.read_bytes().splitlines()) == 51


# -- item 7: a failed append leaves no empty segment ---------------------------------------

def test_failed_append_on_full_disk_leaves_no_empty_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    with file_size_limit(64):
        for _ in range(5):
            with pytest.raises(SpoolError):
                spool.append(["x" * 500])
    assert sorted(tmp_path.glob("seg-*.spool")) == []
    assert spool.size_bytes == 0 and not spool
    spool.append(["a v=1 1"])
    assert drain(spool) == ["a v=1 1"]
    spool.close()


# -- item 4: a corrupt record in the middle of a segment -----------------------------------

def test_corrupt_middle_record_skips_only_that_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(1, 6):
        spool.append([f"a v={i} {i}"])
    spool.close()
    segment = next(tmp_path.glob("seg-*.spool"))
    data = bytearray(segment.read_bytes())
    record = 8 + len(b"a v=1 1")
    data[2 * record + 10] ^= 0xFF  # flip a byte in the body of the third record
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == ["a v=1 1", "a v=2 2", "a v=4 4", "a v=5 5"]
    assert reopened.corrupt_records == 1
    reopened.close()


def test_corrupt_header_length_resynchronises_on_next_valid_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    bodies = [f"m,s=x v={i} {i}" * (i + 1) for i in range(4)]
    for body in bodies:
        spool.append([body])
    spool.close()
    segment = next(tmp_path.glob("seg-*.spool"))
    data = bytearray(segment.read_bytes())
    first = 8 + len(bodies[0].encode())
    struct.pack_into(">I", data, first, 0x7FFFFFFF)  # second record claims 2 GiB
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == [bodies[0], bodies[2], bodies[3]]
    assert reopened.corrupt_records == 1
    reopened.close()


def test_resync_does_not_trust_a_header_inside_a_corrupt_body(tmp_path: Path) -> None:
    """A body that itself contains a valid-looking record must not be replayed as one
    unless its checksum matches; here it does not (CRC of other bytes)."""
    fake_body = b"fake v=9 9"
    fake = struct.pack(">II", len(fake_body), zlib.crc32(b"other")) + fake_body
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(["a v=1 1"])
    spool.append([fake.decode("latin-1")])
    spool.append(["a v=3 3"])
    spool.close()
    segment = next(tmp_path.glob("seg-*.spool"))
    data = bytearray(segment.read_bytes())
    data[8 + 7 + 4] ^= 0x01  # corrupt the second record's CRC
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == ["a v=1 1", "a v=3 3"]
    reopened.close()


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_collector_holds_the_batch_unacked_while_the_deadletter_cannot_be_written(
    tmp_path: Path, influx: InfluxServer, database: str, mosquitto: MosquittoServer,
    run_collector: Callable[[CollectorSettings], Collector],
    make_publisher: Callable[[MosquittoServer], Publisher],
) -> None:
    """Before the fix the batch was acked with its rejected reading only in memory."""
    settings = collector_settings(tmp_path, mosquitto, influx, database)
    settings = settings.model_copy(update={"dead_letter": settings.dead_letter.model_copy(
        update={"file": DEV_FULL, "publish": False})})
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)
    pub.station("dl", telemetry("dl"))
    pub.station("dl", {"supply_temp": "hot"})  # rejected (missing ts), goes to the dead-letter
    pub.wait_all()
    wait_for(lambda: collector.stats()["rejected"] >= 1 and collector.stats()["stored"] >= 1,
             20, "one stored, one rejected")
    time.sleep(1.0)
    assert collector.stats()["acked"] == 0, "nothing acked while the dead-letter fails"
    assert collector.stats()["deadletter_failing"]
    collector.deadletter.path = tmp_path / "freed.jsonl"  # the disk has room again
    wait_for(lambda: collector.stats()["acked"] == 2, 20, "both acked")
    [entry] = [orjson.loads(x) for x in (tmp_path / "freed.jsonl").read_bytes().splitlines()]
    assert entry["reason"] == "missing_field"
