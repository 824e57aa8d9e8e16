"""Write transports at the HTTP level.

v2: a real HTTP server on loopback records the exact request influxdb-client sends. v1: the real
influxd 1.6 from the fixtures, including its 400 "partial write: field type conflict", which
must quarantine just the conflicting line and store the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from collector_helpers import Publisher, collector_settings, telemetry, wait_until

from collector.config import CollectorSettings
from collector.service import Collector
from collector.writers import (
    RejectedWriteError,
    RetryableWriteError,
    V1Writer,
    V2Writer,
    write_or_quarantine,
)
from heatwatch.servers import InfluxServer, MosquittoServer, free_port
from heatwatch.settings import InfluxSettings


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeInflux2:
    """Answers every request with ``status``; records what it got."""

    port: int
    status: int = 204
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def fake_influx2() -> Iterator[FakeInflux2]:
    fake = FakeInflux2(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            time.sleep(fake.delay)
            url = urlsplit(self.path)
            fake.requests.append(Recorded(
                "POST", url.path, parse_qs(url.query), dict(self.headers.items()), body))
            self.send_response(fake.status)
            if fake.status == 204:
                self.end_headers()
                return
            payload = b'{"code":"x","message":"test says no"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def v2_settings(url: str) -> InfluxSettings:
    return InfluxSettings.model_validate({
        "transport": "v2", "url": url, "org": "plant-org", "bucket": "heat-bucket",
        "token": "s3cr3t-token", "timeout": 2.0,
    })


LINES = [
    "telemetry,station=s1,zone=north supply_temp=70.5,pump_running=true 1700000000000000000",
    "meter,meter=m1,station=s1,zone=north indoor_temp=21.5 1700000000000000001",
]


def test_v2_sends_exact_request(fake_influx2: FakeInflux2) -> None:
    writer = V2Writer(v2_settings(fake_influx2.url))
    writer.write(LINES)
    writer.close()
    [req] = fake_influx2.requests
    assert req.path == "/api/v2/write"
    assert req.params == {"org": ["plant-org"], "bucket": ["heat-bucket"], "precision": ["ns"]}
    assert req.headers["Authorization"] == "Token s3cr3t-token"
    assert "Content-Encoding" not in req.headers  # gzip is off: the body is plain text
    assert req.body == ("\n".join(LINES) + "\n").encode()


@pytest.mark.parametrize("status", [404, 500, 503, 429, 401])
def test_v2_unavailable_statuses_are_retryable(fake_influx2: FakeInflux2, status: int) -> None:
    fake_influx2.status = status
    writer = V2Writer(v2_settings(fake_influx2.url))
    with pytest.raises(RetryableWriteError, match=str(status)):
        writer.write(LINES)
    writer.close()


def test_v2_slow_server_times_out_as_retryable(fake_influx2: FakeInflux2) -> None:
    fake_influx2.delay = 1.5
    settings = v2_settings(fake_influx2.url).model_copy(update={"timeout": 0.5})
    writer = V2Writer(settings)
    started = time.monotonic()
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    assert time.monotonic() - started < 1.4
    writer.close()


def test_v2_400_is_a_rejection(fake_influx2: FakeInflux2) -> None:
    fake_influx2.status = 400
    writer = V2Writer(v2_settings(fake_influx2.url))
    with pytest.raises(RejectedWriteError, match="400"):
        writer.write(LINES)
    writer.close()


def test_v2_connection_refused_is_retryable() -> None:
    writer = V2Writer(v2_settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    writer.close()


def test_v1_creates_database_and_writes(influx: InfluxServer) -> None:
    db = "v1_created_by_writer"
    writer = V1Writer(InfluxSettings.model_validate({"url": influx.url, "database": db}))
    writer.write(LINES)
    writer.close()
    assert influx.count("telemetry", "supply_temp", db=db) == 1
    assert influx.count("meter", "indoor_temp", db=db) == 1


def test_v1_connection_refused_is_retryable() -> None:
    settings = InfluxSettings.model_validate({"url": f"http://127.0.0.1:{free_port()}"})
    writer = V1Writer(settings)
    with pytest.raises(RetryableWriteError):
        writer.write(LINES)
    writer.close()


def test_v1_field_type_conflict_quarantines_only_the_bad_line(
    influx: InfluxServer, database: str
) -> None:
    writer = V1Writer(InfluxSettings.model_validate({"url": influx.url, "database": database}))
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
    fake_influx2: FakeInflux2,
    mosquitto: MosquittoServer,
    run_collector: Callable[[CollectorSettings], Collector],
    make_publisher: Callable[[MosquittoServer], Publisher],
) -> None:
    fake_influx2.status = 500
    block = v2_settings(fake_influx2.url).model_dump(mode="json")
    block["token"] = "s3cr3t-token"
    settings = collector_settings(tmp_path, mosquitto, None, influx_block=block)
    collector = run_collector(settings)
    pub = make_publisher(mosquitto)
    for _ in range(20):
        pub.station("v2-1", [telemetry("v2-1") for _ in range(10)])
    pub.wait_all()
    wait_until(lambda: collector.stats()["spooled"] >= 200, 30, "200 lines spooled")
    assert collector.stats()["stored"] == 0
    assert collector.stats()["acked"] == 20, "acked once durable in the spool"
    fake_influx2.status = 204
    wait_until(lambda: collector.stats()["replayed"] >= 200, 30, "spool replayed")
    stored = [line for r in fake_influx2.requests if r.path == "/api/v2/write"
              for line in r.body.decode().splitlines()]
    assert len(set(stored)) == 200


def test_v1_malformed_line_named_in_the_answer_costs_one_retry(
    influx: InfluxServer, database: str
) -> None:
    """1.6 answers 400 "partial write: unable to parse '<line>'" and stores the rest: the named
    line is dead-lettered without bisecting the batch."""
    writer = V1Writer(InfluxSettings.model_validate({"url": influx.url, "database": database}))
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
