"""A webhook receiver that prints alert notifications on the console.

``heatwatch run`` points the alert engine's webhook notifier here, so a newcomer watching the
terminal sees each alert fire and resolve as a crew's chat channel would, through the same
Alertmanager-format webhook a real receiver gets.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AlertConsole", "format_notification"]


def format_notification(body: dict[str, Any]) -> list[str]:
    """One line per alert in an Alertmanager webhook body."""
    lines = []
    for alert in body.get("alerts", []):
        labels = alert.get("labels", {})
        notes = alert.get("annotations", {})
        status = str(alert.get("status", body.get("status", "?"))).upper()
        subject = labels.get("station") or labels.get("zone") or labels.get("subject", "")
        what = notes.get("summary") or notes.get("description") or ""
        lines.append(
            f"{time.strftime('%H:%M:%S')} ALERT {status:8} {labels.get('alertname', '?'):20} "
            f"{subject:10} [{labels.get('severity', '')}] {what}"
        )
    return lines


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self.send_response(400)
            self.end_headers()
            return
        for line in format_notification(body if isinstance(body, dict) else {}):
            print(line, flush=True)
        self.server.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines would drown the alert lines."""


class _Server(ThreadingHTTPServer):
    received = 0


class AlertConsole:
    """Runs the receiver on a loopback port in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    @property
    def received(self) -> int:
        return self._server.received

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
