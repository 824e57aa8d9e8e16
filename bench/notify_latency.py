"""Alert notification latency per channel, live: fault onset on the broker -> message received.

Issue 5 target: fault onset in live telemetry -> message received by each channel,
p95 <= rule hold + 2 s.

Everything is the real thing on loopback: Mosquitto (``heatwatch.local.servers``), the alert service
as its own process (``heatwatch alerts``, service defaults: evaluation every 1 s, outbox drain
every 1 s), and one real receiver per channel, each timestamping arrival on this machine's
wall clock:

* webhook, DingTalk and WeCom: an HTTP recorder in this process (the robots get errcode 0);
* email: aiosmtpd in a thread (plain SMTP, ``tls: none``, as for a local relay);
* MQTT: a subscriber on the same Mosquitto to ``heat/_alerts/#`` (state ``firing``);
* Alertmanager: Debian's ``prometheus-alertmanager`` started like the test fixture; arrival =
  first appearance in its ``GET /api/v2/alerts``, polled every 50 ms, so that figure is
  bounded below by the polling granularity (up to ~50 ms + one request late).

A publisher in this process is the fleet: every station reports every second; at known
wall-clock instants one station per onset starts reporting ``power_ok`` false (``power_loss``)
or ``pump_running`` false (``pump_stopped``). Onset = the instant that first faulty reading is
published (QoS 1, loopback). Both rules hold ``for_s`` 3 s here, so the target is 5 s. No
``routes`` are configured: then every receiver gets every alert at once, one message per
alert, so no ``group_wait`` adds latency (with routes, set ``group_wait_s: 0`` for the same).
The heating season is set to the whole year so ``pump_stopped`` is live on any date.

Run: ``.venv/bin/python bench/notify_latency.py`` (about 2 minutes), ``--quick`` for 2 onsets.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml
from aiosmtpd.controller import Controller
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alertbench import write_section
from common import Row, machine, machine_table, table

from alerts.settings import AlertsSettings, MetricsSettings, NotifySettings
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import AlertmanagerServer, MosquittoServer, free_port

HOLD_S = 3.0
CHANNELS = ("webhook", "dingtalk", "wecom", "email", "mqtt", "alertmanager")
RULE_OF = {"power": "power_loss", "pump": "pump_stopped"}
AM_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Onset:
    kind: str  # power or pump
    station: str
    at_s: float  # offset from the start of the publisher


def plan(quick: bool) -> list[Onset]:
    """20 onsets 3 s apart, alternating power and pump (quick: one of each)."""
    n = 2 if quick else 20
    return [Onset("power" if k % 2 == 0 else "pump", f"st-{k + 1:05d}", 8.0 + 3.0 * k)
            for k in range(n)]


@dataclass
class Arrivals:
    """First arrival of a firing message per (channel, station), on the wall clock."""

    stations: frozenset[str]
    first: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, channel: str, text: str, at: float) -> None:
        """Record every planned station mentioned in ``text`` (ids are fixed-width, so one
        cannot be a prefix of another). Only firing messages arrive before the run ends."""
        with self.lock:
            for st in self.stations:
                if st in text:
                    self.first.setdefault((channel, st), at)

    def complete(self) -> bool:
        with self.lock:
            return len(self.first) >= len(CHANNELS) * len(self.stations)


class HttpReceiver:
    """Webhook, DingTalk and WeCom endpoints (by path); robots get the ``errcode 0`` reply."""

    def __init__(self, arrivals: Arrivals) -> None:
        channel_of = {"/hook": "webhook", "/ding": "dingtalk", "/wecom": "wecom"}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = self.path.split("?", 1)[0]
                channel = channel_of.get(path)
                if channel == "webhook":
                    data = json.loads(body)
                    text = json.dumps([a["labels"] for a in data.get("alerts", [])
                                       if a.get("status") == "firing"])
                    arrivals.seen(channel, text, at)
                elif channel is not None:
                    arrivals.seen(channel, body.decode("utf-8", "replace"), at)
                reply = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpHandler:
    """aiosmtpd handler: the decoded subject and text parts of each message."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = [str(msg["Subject"] or "")]
        if isinstance(msg, EmailMessage):
            body = msg.get_body(("plain",))
            if body is not None and isinstance(body, EmailMessage):
                parts.append(body.get_content())
        self.arrivals.seen("email", "\n".join(parts), at)
        return "250 OK"



def poll_alertmanager(url: str, arrivals: Arrivals, stop: threading.Event) -> None:
    """Timestamp each station's first appearance in Alertmanager's alert list."""
    with httpx.Client(timeout=2) as client:
        while not stop.wait(AM_POLL_S):
            try:
                resp = client.get(f"{url}/api/v2/alerts")
            except httpx.HTTPError:
                continue
            at = time.time()
            if resp.status_code == 200:
                arrivals.seen("alertmanager", json.dumps([a["labels"] for a in resp.json()]),
                              at)


class FleetPublisher:
    """The publisher: every station reports every second; a faulty station keeps reporting
    its fault. ``fault`` publishes the first faulty reading at once and returns that instant."""

    def __init__(self, broker: MosquittoServer, stations: list[str]) -> None:
        self.stations = stations
        self.faults: dict[str, str] = {}
        self.seq = dict.fromkeys(stations, 0)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-fleet")
        self.client.on_connect = lambda c, u, f, rc, p: connected.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not connected.wait(10):
            raise RuntimeError("bench publisher could not connect")
        for st in stations:
            self.client.publish(f"heat/{st}/status", "online", qos=1, retain=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _publish(self, st: str) -> float:
        with self.lock:
            self.seq[st] += 1
            seq = self.seq[st]
            fault = self.faults.get(st)
        now = time.time()
        payload = {"ts": int(now * 1000), "seq": seq, "supply_temp": 62.5,
                   "return_temp": 41.0, "supply_pressure": 4.2, "return_pressure": 3.1,
                   "flow": 12.5, "pump_running": fault != "pump", "power_ok": fault != "power",
                   "outdoor_temp": -5.0}
        self.client.publish(f"heat/{st}/telemetry", json.dumps(payload), qos=1)
        return now

    def _run(self) -> None:
        while not self.stop_event.wait(1.0):
            for st in self.stations:
                self._publish(st)

    def fault(self, station: str, kind: str) -> float:
        with self.lock:
            self.faults[station] = kind
        return self._publish(station)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _stop(child: Child) -> float:
    """SIGTERM, wait (kill after 60 s); return seconds to exit."""
    t0 = time.perf_counter()
    child.stop(timeout=60)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 onsets, < 40 s (CI smoke)")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    onsets = plan(args.quick)
    stations = [o.station for o in onsets] + [f"st-{900 + k:05d}" for k in range(4)]
    arrivals = Arrivals(frozenset(o.station for o in onsets))
    onset_at: dict[str, float] = {}
    stop_s = float("nan")

    with tempfile.TemporaryDirectory(prefix="hw-notify-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(work / "mosquitto")
        am = AlertmanagerServer(work / "am")
        http = HttpReceiver(arrivals)
        smtp = Controller(SmtpHandler(arrivals), hostname="127.0.0.1", port=free_port())
        am_stop = threading.Event()
        sub: mqtt.Client | None = None
        fleet: FleetPublisher | None = None
        service = Child("alerts", heatwatch_argv("alerts", "-c", str(work / "alerts.yaml")),
                        work / "alerts.log")
        try:
            broker.start()
            am.start()
            smtp.start()
            am_thread = threading.Thread(target=poll_alertmanager,
                                         args=(am.url, arrivals, am_stop), daemon=True)
            am_thread.start()

            def on_alert(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
                at = time.time()
                if msg.payload and json.loads(msg.payload).get("state") == "firing":
                    arrivals.seen("mqtt", msg.topic, at)

            sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-alerts-sub")
            sub.on_message = on_alert
            sub.connect(broker.host, broker.port)
            sub.subscribe("heat/_alerts/#", qos=1)
            sub.loop_start()

            (work / "rules.yaml").write_text(yaml.safe_dump({"defaults": {
                "power_loss": {"for_s": HOLD_S},
                "pump_stopped": {"for_s": HOLD_S},
                "heating": {"season_start": "01-01", "season_end": "12-31"},
            }}))
            write_settings(work / "alerts.yaml", AlertsSettings(
                mqtt=broker.settings("heatwatch-alerts"),
                rules=work / "rules.yaml",
                state_db=work / "alerts.db",
                write_events=False,
                metrics=MetricsSettings(port=0),
                log_level="WARNING",
                notifications=NotifySettings.model_validate({
                    "webhooks": {"hook": {"url": f"{http.url}/hook"}},
                    "dingtalk": {"ding": {"access_token": "bench", "url": f"{http.url}/ding"}},
                    "wecom": {"wecom": {"key": "bench", "url": f"{http.url}/wecom"}},
                    "email": {"mail": {"host": "127.0.0.1", "port": smtp.port, "tls": "none",
                                       "from_addr": "heatwatch@example.org",
                                       "to": ["crew@example.org"]}},
                    "mqtt": {"scada": {"host": broker.host, "port": broker.port,
                                       "prefix": "heat",
                                       "client_id": "heatwatch-alerts-notify"}},
                    "alertmanager": {"am": {"url": am.url}},
                }),
            ))
            service.start()
            time.sleep(3.0)  # connected and subscribed
            if not service.alive():
                raise SystemExit(f"alerts service exited: {service.log_text()}")
            fleet = FleetPublisher(broker, stations)
            t0 = time.time()
            for o in onsets:
                delay = t0 + o.at_s - time.time()
                if delay > 0:
                    time.sleep(delay)
                onset_at[o.station] = fleet.fault(o.station, o.kind)
            deadline = time.time() + HOLD_S + 30.0
            while time.time() < deadline and not arrivals.complete():
                time.sleep(0.1)
            stop_s = _stop(service)
        finally:
            _stop(service)
            if fleet is not None:
                fleet.stop()
            if sub is not None:
                sub.loop_stop()
                sub.disconnect()
            am_stop.set()
            http.stop()
            smtp.stop()
            am.stop()
            broker.stop()
            log_tail = (work / "alerts.log").read_text(errors="replace")[-2000:] \
                if (work / "alerts.log").exists() else ""

    rows: list[Row] = []
    missing: list[str] = []
    over: list[str] = []
    target = HOLD_S + 2.0
    all_lat: list[float] = []
    for ch in CHANNELS:
        lat = []
        for o in onsets:
            got = arrivals.first.get((ch, o.station))
            if got is None:
                missing.append(f"{ch} {o.station} ({RULE_OF[o.kind]})")
                continue
            d = got - onset_at[o.station]
            lat.append(d)
            if d > target:
                over.append(f"{ch} {o.station}: {d:.2f} s")
        all_lat += lat
        if not lat:
            rows.append(Row(f"{ch}: received", 0, "of " + str(len(onsets)), "all", None, False))
            continue
        rows.append(Row(f"{ch}: p50", statistics.median(lat), "s"))
        rows.append(Row(f"{ch}: p95", pct(lat, 95), "s", f"<= {target:g} s", target,
                        pct(lat, 95) <= target and len(lat) == len(onsets)))
        rows.append(Row(f"{ch}: max", max(lat), "s"))
    if all_lat:
        rows.append(Row("all channels: latency beyond hold, p95", pct(all_lat, 95) - HOLD_S,
                        "s", "<= 2 s", 2.0, pct(all_lat, 95) - HOLD_S <= 2.0))
    rows.append(Row("alerts service: exit after SIGTERM", stop_s, "s", "< 60 s", None,
                    stop_s < 60))
    head = (f"{len(stations)} stations reporting every second, {len(onsets)} fault onsets 3 s "
            f"apart (power_ok false -> power_loss, pump_running false -> pump_stopped, "
            f"alternating, distinct stations), both rules hold {HOLD_S:g} s: target "
            f"{target:g} s per channel (p95). One message per alert per receiver (no routes, "
            f"so no group_wait). Alertmanager: first appearance in /api/v2/alerts polled every "
            f"{AM_POLL_S * 1000:.0f} ms.")
    report = "\n".join([machine_table(machine()), "", table("notification latency", rows), "",
                        head] + [f"* missing: {m}" for m in missing]
                       + [f"* over target: {o}" for o in over])
    print(report)
    if missing and log_tail:
        print("\nalerts service log (tail):\n" + log_tail)
    if args.write_doc:
        write_section("notify_latency", DOC_HEAD + "\n" + report)
    return 0


DOC_HEAD = """## Notification latency per channel, live (bench/notify_latency.py)

`.venv/bin/python bench/notify_latency.py --write-doc`: real Mosquitto, the alert service
(`heatwatch alerts`, default 1 s evaluation and 1 s outbox drain) with all six channels, each
pointed at a real loopback receiver (HTTP recorder for webhook/DingTalk/WeCom, aiosmtpd,
an MQTT subscriber on `heat/_alerts/#`, Debian's prometheus-alertmanager). Onset = the first
faulty reading published; latency = message received - onset. Target (issue 5): p95 <= rule
hold + 2 s. No `routes`: every receiver gets each alert at once, one message per alert, so no
`group_wait` is involved (with routes, `group_wait_s: 0` does the same).

Where the time beyond the hold goes: the service is two polling loops, the engine evaluating
every `evaluate_interval_s` (1 s) and the outbox drained every `notifications.interval_s`
(1 s), with no wake-up of the drain when the engine enqueues. An onset therefore waits 0-1 s
for the evaluation that sees the hold expire plus 0-1 s for the next drain, plus the sends
(sequential per receiver, milliseconds each on loopback): two uniform phases alone give a
median of 1 s, a p95 of 1.7 s and a worst case of 2 s beyond the hold: the polling alone can
spend the whole 2 s allowance, and the p95 keeps a margin of a few tenths of a second, which a
busy machine or a slow real receiver (an SMTP relay or a chat robot across the internet, sent
one after another) can use up. The lever is in the service, not the channels: wake the
dispatcher when the engine enqueues (or halve either interval), which removes up to 1 s.
"""


if __name__ == "__main__":
    raise SystemExit(main())
