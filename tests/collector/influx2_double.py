"""An HTTP double of InfluxDB 2.x's ``POST /api/v2/write``, recording every request it gets.

No InfluxDB 2.x server is installable here, so this follows the documented 2.x behaviour
(docs.influxdata.com/influxdb/v2/write-data/troubleshoot, "Handle write responses"):

* 204: every point written;
* 400 "Bad request": the body names the malformed line (``unable to parse '<line>': ...``);
  the other lines are written (2.x partial writes, influxdata/docs-v2#6071);
* 422 "Unprocessable Entity": "some or all of the data has been rejected. Data that has not
  been rejected is ingested and queryable", the body holding 2.x's partial-write message, e.g.
  ``failure writing points to database: partial write: field type conflict: input field
  "valve" on measurement "telemetry" is type float, already exists as type boolean dropped=1``
  (it names the field, not the line).

Field types are kept per measurement and field as the server does: the first type written wins.
It stores whole lines and answers ``/query`` with 404 (no v1 compatibility API configured).
``status`` makes it answer every request with that status instead (503: InfluxDB down), after
``delay`` seconds (a slow server). Every request is kept in ``requests``, exactly as received.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from heatwatch.settings import InfluxSettings


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


def _field_type(value: str) -> str:
    if value in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    if value.startswith('"'):
        return "string"
    if value.endswith("i"):
        return "integer"
    float(value)  # raises ValueError: unparsable
    return "float"


@dataclass
class Influx2Double:
    port: int = 0
    status: int | None = None  # answer every request with this status (503: down)
    delay: float = 0.0  # seconds before answering
    types: dict[tuple[str, str], str] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def block(self, **overrides: Any) -> dict[str, Any]:
        """An ``influx`` settings block for this double (``transport: v2``)."""
        return {"transport": "v2", "url": self.url, "org": "plant-org", "bucket": "heat-bucket",
                "token": "s3cr3t-token", "timeout": 2.0, **overrides}

    def settings(self, **overrides: Any) -> InfluxSettings:
        return InfluxSettings.model_validate(self.block(**overrides))

    def write(self, body: str) -> tuple[int, dict[str, str] | None]:
        errors: list[str] = []
        conflicts: list[str] = []
        with self.lock:
            self.writes += 1
            for line in body.splitlines():
                if not line:
                    continue
                try:
                    head, fields, _ts = line.rsplit(" ", 2)
                    measurement = head.split(",", 1)[0]
                    parsed = [(f.split("=", 1)[0], _field_type(f.split("=", 1)[1]))
                              for f in fields.split(",")]
                except (ValueError, IndexError):
                    errors.append(f"unable to parse '{line}': invalid field format")
                    continue
                clash = next(((name, t) for name, t in parsed
                              if self.types.get((measurement, name), t) != t), None)
                if clash is not None:
                    name, t = clash
                    have = self.types[(measurement, name)]
                    conflicts.append(
                        f'field type conflict: input field "{name}" on measurement '
                        f'"{measurement}" is type {t}, already exists as type {have}')
                    continue
                for name, t in parsed:
                    self.types.setdefault((measurement, name), t)
                self.stored.append(line)
        if errors:
            return 400, {"code": "invalid", "message": "; ".join(errors)}
        if conflicts:
            message = ("failure writing points to database: partial write: "
                       f"{conflicts[0]} dropped={len(conflicts)}")
            return 422, {"code": "unprocessable entity", "message": message}
        return 204, None

    def written_lines(self) -> list[str]:
        """Every line of every write request, as sent (whatever the answer was)."""
        return [line for r in self.requests if r.path == "/api/v2/write"
                for line in r.body.decode().splitlines()]


@contextmanager
def influx2_double() -> Iterator[Influx2Double]:
    double = Influx2Double()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._record("POST", body)
            if double.status is not None:
                self._answer(double.status, None if double.status == 204 else
                             {"code": "unavailable", "message": "test says no"})
            elif not self.path.startswith("/api/v2/write"):
                self._answer(404, {"code": "not found", "message": "path not found"})
            else:
                self._answer(*double.write(body.decode("utf-8")))

        def do_GET(self) -> None:
            self._record("GET", b"")
            self._answer(404, {"code": "not found", "message": "path not found"})

        def _record(self, method: str, body: bytes) -> None:
            url = urlsplit(self.path)
            double.requests.append(Recorded(method, url.path, parse_qs(url.query),
                                            dict(self.headers.items()), body))
            time.sleep(double.delay)

        def _answer(self, status: int, doc: dict[str, str] | None) -> None:
            self.send_response(status)
            if doc is None:
                self.end_headers()
                return
            payload = json.dumps(doc).encode()
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    double.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()
