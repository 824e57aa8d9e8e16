"""A loopback HTTP server answering like Open-Meteo's /v1/forecast, from responses the test
queues (there is no internet here, and a test must not depend on it anyway)."""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0


@dataclass
class OpenMeteoServer:
    url: str
    answers: queue.Queue[Answer] = field(default_factory=queue.Queue)
    requests: list[dict[str, list[str]]] = field(default_factory=list)

    def answer(self, doc: Any = None, *, status: int = 200, raw: bytes | None = None,
               delay_s: float = 0.0) -> None:
        body = raw if raw is not None else orjson.dumps(doc)
        self.answers.put(Answer(status, body, delay_s))


def recorded_response(start_local: str, temps: list[float | None], *,
                      timezone: str = "Europe/Belgrade", offset_s: int = 3600,
                      unixtime: bool = False) -> dict[str, Any]:
    """A response in Open-Meteo's documented shape (hourly, local ISO times without offset)."""
    first = dt.datetime.strptime(start_local, "%Y-%m-%dT%H:%M")
    times: list[Any] = [(first + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M")
                        for i in range(len(temps))]
    if unixtime:
        times = [int(dt.datetime.strptime(t, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)
                     .timestamp()) - offset_s for t in times]
    return {
        "latitude": 43.32, "longitude": 21.9, "generationtime_ms": 0.05,
        "utc_offset_seconds": offset_s, "timezone": timezone,
        "timezone_abbreviation": "CET" if offset_s == 3600 else "GMT", "elevation": 194.0,
        "hourly_units": {"time": "unixtime" if unixtime else "iso8601",
                         "temperature_2m": "°C"},
        "hourly": {"time": times, "temperature_2m": temps},
    }


def serve() -> Iterator[OpenMeteoServer]:
    server_ref: dict[str, OpenMeteoServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            srv = server_ref["s"]
            parsed = urlparse(self.path)
            srv.requests.append({"path": [parsed.path], **parse_qs(parsed.query)})
            try:
                ans = srv.answers.get_nowait()
            except queue.Empty:
                ans = Answer(503, b'{"error": true, "reason": "nothing queued"}')
            if ans.delay_s:
                time.sleep(ans.delay_s)
            try:
                self.send_response(ans.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(ans.body)))
                self.end_headers()
                self.wfile.write(ans.body)
            except OSError:
                pass  # the client timed out and hung up

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_ref["s"] = OpenMeteoServer(f"http://127.0.0.1:{httpd.server_address[1]}/v1/forecast")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_ref["s"]
    finally:
        httpd.shutdown()
        httpd.server_close()
