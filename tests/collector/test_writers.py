"""Writes through heatwatch.influx at the HTTP level.

v2: the 2.x double (influx2_double.py) records the exact request sent. v1: the real influxd 1.6
from the fixtures, including its 400 "partial write: field type conflict", which must
quarantine just the conflicting line and store the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from collector_helpers import Publisher, collector_settings, telemetry
from influx2_double import Influx2Double
from support import wait_for

from collector.config import CollectorSettings
from collector.service import Collector
from heatwatch.influx import (
    InfluxClient,
    RejectedWriteError,
    RetryableWriteError,
    write_or_quarantine,
)
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port
from heatwatch.settings import InfluxSettings


def v1_writer(url: str, database: str = "heatwatch") -> InfluxClient:
    """The collector's writer: creates its database."""
    return InfluxClient(InfluxSettings.model_validate({"url": url, "database": database}),
                        create_database=True)


LINES = [
    "telemetry,station=s1,zone=north supply_temp=70.5,pump_running=true 1700000000000000000",
    "meter,meter=m1,station=s1,zone=north indoor_temp=21.5 1700000000000000001",
]


def test_v2_sends_exact_request(influx2: Influx2Double) -> None:
    writer = InfluxClient(influx2.settings())
    writer.write(LINES)
    writer.close()
    [req] = influx2.requests
    assert req.path == "/api/v2/write"
    assert req.params == {"org": ["plant-org"], "bucket": ["heat-bucket"], "precision": ["ns"]}
    assert req.headers["Authorization"] == "Token s3cr3t-token"
    assert "Content-Encoding" not in req.headers  # gzip is off: the body is plain text
    assert req.body == ("\n".join(LINES) + "\n").encode()


@pytest.mark.parametrize("status", [404, 500, 503, 429, 401])
def test_v2_unavailable_statuses_are_retryable(influx2: Influx2Double, status: int) -> None:
    influx2.status = status
    writer = InfluxClient(influx2.settings())
    with pytest.raises(RetryableWriteError, match=str(status)):
        writer.write(LINES)
    writer.close()


def test_v2_slow_server_times_out_as_retryable(influx2: Influx2Double) -> None:
    influx2.delay = 1.5
    writer = InfluxClient(influx2.settings(timeout=0.5))
    started = time.monotonic()
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    assert time.monotonic() - started < 1.4
    writer.close()


def test_v2_400_is_a_rejection(influx2: Influx2Double) -> None:
    influx2.status = 400
    writer = InfluxClient(influx2.settings())
    with pytest.raises(RejectedWriteError, match="400"):
        writer.write(LINES)
    writer.close()


def test_v2_connection_refused_is_retryable() -> None:
    writer = InfluxClient(InfluxSettings.model_validate({
        "transport": "v2", "url": f"http://127.0.0.1:{free_port()}", "org": "o", "bucket": "b",
        "token": "t", "timeout": 2.0}))
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    writer.close()


def test_v1_creates_database_and_writes(influx: InfluxServer) -> None:
    db = "v1_created_by_writer"
    writer = v1_writer(influx.url, db)
    writer.write(LINES)
    writer.close()
    assert influx.count("telemetry", "supply_temp", db=db) == 1
    assert influx.count("meter", "indoor_temp", db=db) == 1


def test_v1_connection_refused_is_retryable() -> None:
    writer = v1_writer(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    writer.close()


def test_v1_field_type_conflict_quarantines_only_the_bad_line(
    influx: InfluxServer, database: str
) -> None:
    writer = v1_writer(influx.url, database)
    writer.write(["telemetry,station=c1 valve=true 1700000000000000000"])
    batch = [f"telemetry,station=c1 supply_temp={i}.5 17000000000000{i:05d}" for i in range(1, 40)]
    batch.insert(13, "telemetry,station=c1 valve=2.5 1700000000000099999")
    with pytest.raises(RejectedWriteError, match="field type conflict"):
        writer.write(batch)
    refused = write_or_quarantine(writer.write, batch)
    writer.close()
    assert [line for line, _ in refused] == ["telemetry,station=c1 valve=2.5 1700000000000099999"]
    assert "field type conflict" in refused[0][1]
    assert influx.count("telemetry", "supply_temp", db=database) == 39


def test_collector_spools_while_v2_answers_500_then_replays_everything(
    tmp_path: Path,
    influx2: Influx2Double,
    mosquitto: MosquittoServer,
    run_collector: Callable[[CollectorSettings], Collector],
    make_publisher: Callable[[MosquittoServer], Publisher],
) -> None:
    influx2.status = 500
    settings = collector_settings(tmp_path, mosquitto, None, influx_block=influx2.block())
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)
    for _ in range(20):
        pub.station("v2-1", [telemetry("v2-1") for _ in range(10)])
    pub.wait_all()
    wait_for(lambda: collector.stats()["spooled"] >= 200, 30, "200 lines spooled")
    assert collector.stats()["stored"] == 0
    assert collector.stats()["acked"] == 20, "acked once durable in the spool"
    influx2.status = None
    wait_for(lambda: collector.stats()["replayed"] >= 200, 30, "spool replayed")
    assert len(set(influx2.written_lines())) == 200
    assert len(set(influx2.stored)) == 200


def test_v1_malformed_line_named_in_the_answer_costs_one_retry(
    influx: InfluxServer, database: str
) -> None:
    """1.6 answers 400 "partial write: unable to parse '<line>'" and stores the rest: the named
    line is dead-lettered without bisecting the batch."""
    writer = v1_writer(influx.url, database)
    calls = [0]

    def write(lines: list[str]) -> None:
        calls[0] += 1
        writer.write(lines)

    batch = [f"telemetry,station=p1 supply_temp={i}.5 17000000000000{i:05d}" for i in range(64)]
    bad = "telemetry,station=p1 supply_temp=abc 1700000000000099999"
    refused = write_or_quarantine(write, [*batch[:20], bad, *batch[20:]])
    writer.close()
    assert [line for line, _ in refused] == [bad]
    assert calls[0] == 2, f"{calls[0]} writes: the answer named the line, no bisection needed"
    assert influx.count("telemetry", "supply_temp", db=database) == 64
