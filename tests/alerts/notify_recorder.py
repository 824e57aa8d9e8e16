"""Loopback receivers for the channel tests: an HTTP recorder that can play a chat robot.

The recorder keeps every request (path, query, headers, JSON body) and answers with scripted
replies. With ``dingtalk_secret`` set it checks DingTalk's signature on the server side, as
DingTalk does: a wrong or stale ``sign`` gets ``errcode 310000``. With ``limit=(n, window_s)``
it enforces a robot's quota as DingTalk does: the request over ``n`` within ``window_s`` and
everything for ``throttle_s`` after it get ``throttle_code`` (130101; WeCom's is 45009).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.model import Alert, AlertState, EventKind, Scope, Severity
from alerts.rows import OutboxItem


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class HttpRecorder:
    def __init__(self, *, dingtalk_secret: str | None = None,
                 limit: tuple[int, float] | None = None, throttle_s: float = 600.0,
                 throttle_code: int = 130101) -> None:
        self.requests: list[Request] = []
        self.limit = limit
        self.throttle_s = throttle_s
        self.throttle_code = throttle_code
        self.accepted: list[float] = []  # wall times of the messages let through
        self.throttled_until = float("-inf")
        self.refused = 0
        self.headers: dict[str, str] = {}  # extra response headers (Retry-After, ...)
        self.replies: list[tuple[int, dict[str, Any]]] = []  # (status, JSON) in order
        self.dingtalk_secret = dingtalk_secret
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append(
                    Request(url.path, query, dict(self.headers), json.loads(raw)))
                code, reply = recorder.reply(query)
                data = json.dumps(reply).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for name, value in recorder.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def reply(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.dingtalk_secret is not None and not self._signed(query):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        if self.replies:
            return self.replies.pop(0)
        if self.limit is not None:
            n, window = self.limit
            now = time.monotonic()
            recent = [t for t in self.accepted if t > now - window]
            if now >= self.throttled_until and len(recent) >= n:
                self.throttled_until = now + self.throttle_s  # over the quota: throttled
            if now < self.throttled_until:
                self.refused += 1
                return 200, {"errcode": self.throttle_code,
                             "errmsg": "send too fast, exceed 20 times per minute"}
            self.accepted.append(now)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _signed(self, query: dict[str, str]) -> bool:
        """DingTalk's check: timestamp within an hour, sign = b64(HMAC-SHA256(secret))."""
        secret = self.dingtalk_secret or ""
        try:
            ts = int(query["timestamp"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() * 1000 - ts) > 3600_000:
            return False
        digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        # parse_qsl already url-decoded the sign once
        return hmac.compare_digest(query.get("sign", ""), base64.b64encode(digest).decode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alert(rule: str = "makeup_surge", station: str | None = "S-01", zone: str = "north",
          *, value: float | None = 0.042, ts: float = 1768478400.0,
          annotations: dict[str, str] | None = None,
          severity: Severity = Severity.CRITICAL) -> Alert:
    scope = Scope.STATION if station else Scope.ZONE
    return Alert(f"{rule}-{station or zone}-1", rule, station or zone, scope, station, zone,
                 AlertState.FIRING, severity, ts, fired_at=ts, value=value,
                 summary=f"{rule} at {station or zone}",
                 annotations=annotations if annotations is not None else
                 {"makeup_flow": "0.42", "circulating_flow": "10"})


def item(a: Alert, kind: EventKind = EventKind.FIRING, receiver: str = "r",
         seq: int = 1) -> OutboxItem:
    return OutboxItem(f"{receiver}/{a.id}:{kind.value}:{seq}", receiver, kind,
                      a.resolved_at or a.fired_at or a.active_at, a)


def resolved(a: Alert, at: float) -> Alert:
    return dataclasses.replace(a, state=AlertState.RESOLVED, resolved_at=at)
