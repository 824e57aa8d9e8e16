"""The whole stack as real processes, for chaos tests (issue 7).

What ``heatwatch run`` starts, started the same way but owned by one test: Mosquitto and
InfluxDB (``heatwatch.local.servers``, in the test's tmp dir), ``heatwatch collect``, ``heatwatch
alerts`` with its webhook pointing at :class:`Recorder` (a loopback HTTP server in the test
process) and ``heatwatch simulate`` on the wall clock.

Why the wall clock and not an accelerated simulator: the alert service judges liveness
(``received_at``) and hold times (``evaluate(now)``) by its own wall clock, so readings
compressed 60x would break ``for_s`` and offline timeouts. Instead the scenario is short
(about 75 s), reports every 2 s, and its faults last 15-20 s; the rules file shortens the holds
to match.

Why the published set can be recomputed: the scenario pins ``time.start`` and the seed, and
the simulator is deterministic given both (pacing only changes *when* a message is sent, not
what it says), so :func:`published_readings` replays the same scenario in-process without a
sink and yields exactly the (station, meter, ts, seq) of every reading the simulator process
published. Comparing that set with what InfluxDB holds is the "0 lost" check.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from support import wait_for

from alerts.notify.webhook import WebhookConfig
from alerts.settings import AlertsSettings, NotifySettings
from alerts.settings import MetricsSettings as AlertsMetrics
from collector.config import BatchSettings, CollectorSettings, DeadLetterSettings, SpoolSettings
from collector.config import MetricsSettings as CollectorMetrics
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, ServerError, free_port
from simulators.runner import Simulation
from simulators.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
DATABASE = "chaos"
EXTERNAL_URL = "http://heatwatch.invalid"
_ALERT_ID = re.compile(r"#/alerts/(?P<id>[^/?#]+)$")

# Short holds for a 75 s realtime scenario; the rules the faults below do not exercise are off
# so that every fired alert has a known cause and a known end (an unresolved alert is a finding,
# not noise). pipeline_down keeps its broker test (30 s) but not the "most stations silent"
# test: the burst fleet goes quiet on purpose when its 20 s are over.
RULES: dict[str, Any] = {
    "defaults": {
        # Offline by silence would need the burst fleet (silent after its 20 s) to stay within
        # 120 s; the power loss is announced by its gateway and fires at once anyway.
        "station_offline": {"min_timeout_s": 120},
        "pump_stopped": {"for_s": 4},
        "makeup_surge": {"for_s": 4},
        "pressure_drop": {"for_s": 4},
        "tank_draining": {"enabled": False},
        "zone_cold": {"enabled": False},
        "supply_below_curve": {"enabled": False},
        "stuck_sensor": {"enabled": False},
        "out_of_range": {"enabled": False},
        "return_above_supply": {"enabled": False},
        # pump_stopped only fires in season: a CI run in July must see it too. The fleet's
        # stations serve 2-4 flats and draw about 13 kW: an operator sets delivering_kw for
        # stations that small (30 kW, the default, fits substations), else they count as
        # idle and makeup_surge has no verdict without a design flow.
        "heating": {"season_start": "01-01", "season_end": "12-31", "delivering_kw": 3.0},
    },
    "pipeline": {"startup_grace_s": 0, "min_stations": 100000},
}

# Which rule(s) a fault kind must raise on its station (any one of them is enough).
EXPECTED_RULES: dict[tuple[str, bool], frozenset[str]] = {
    ("pump_trip", False): frozenset({"pump_stopped"}),
    ("leak", False): frozenset({"makeup_surge", "pressure_drop"}),
    ("power_loss", False): frozenset({"station_offline", "power_loss"}),
    ("power_loss", True): frozenset({"power_loss"}),
}


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


# -- scenario ---------------------------------------------------------------------------------


def scenario(
    path: Path,
    *,
    start: float,
    broker: tuple[str, int],
    client_id: str,
    stations: int = 15,
    duration_s: float = 75.0,
    station_id_format: str = "st-{:05d}",
    faults: bool = True,
    seed: int = 11,
) -> Path:
    """Write a realtime scenario pinned to ``start`` (so it can be replayed, see module doc),
    publishing to ``broker`` (host, port)."""
    data: dict[str, Any] = {
        "description": "chaos test fleet",
        "seed": seed,
        "time": {"mode": "realtime", "start": rfc3339(start), "duration": duration_s},
        "fleet": {
            "stations": stations,
            "flats_per_station": [2, 4],
            "station_id_format": station_id_format,
        },
        "reporting": {"station_interval_s": 2, "flat_interval_s": 10, "offline_on_exit": False},
        "mqtt": {
            "host": broker[0],
            "port": broker[1],
            "client_id": client_id,
            "reconnect_min_delay": 0.5,
            "reconnect_max_delay": 2.0,
        },
        "output": {"ground_truth": str(path.with_suffix(".truth.jsonl"))},
        "faults": [],
    }
    if faults:
        # All faults end by 32 s, leaving 40 s for resolution to be observed (and for an
        # InfluxDB outage of 60 s to fit inside the run). The leak is large and short because
        # the make-up ratio of a small leak decays over minutes, beyond a test's budget.
        data["faults"] = [
            {"kind": "pump_trip", "station": "st-00002", "start": "10s", "duration": "20s"},
            {"kind": "leak", "station": "st-00004", "start": "10s", "duration": "16s",
             "size": 0.2},
            {"kind": "power_loss", "station": "st-00006", "start": "12s", "duration": "20s"},
            {"kind": "power_loss", "station": "st-00008", "start": "12s", "duration": "20s",
             "backup_power": True},
        ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


ReadingKey = tuple[str, str, str, int, int]  # measurement, station, meter ("" if none), ts_ms, seq


def published_readings(scenario_path: Path) -> set[ReadingKey]:
    """Every reading the simulator process publishes for this scenario, replayed in-process."""
    settings = load_scenario(scenario_path, output={"ground_truth": None})
    sim = Simulation(settings)
    out: set[ReadingKey] = set()
    for _frame, _status, data in sim.frames():
        for msg in data:
            out.update(reading_keys(msg.topic, msg.payload))
    for msg in sim.encoder.flush() + sim.delivery.drain():
        out.update(reading_keys(msg.topic, msg.payload))
    return out


def reading_keys(topic: str, payload: bytes) -> Iterator[ReadingKey]:
    """The readings of one data message (a JSON object, or an array when batched)."""
    parts = topic.split("/")
    station = parts[1]
    measurement, meter = ("meter", parts[3]) if parts[2] == "meter" else ("telemetry", "")
    docs = orjson.loads(payload)
    for doc in docs if isinstance(docs, list) else [docs]:
        yield measurement, station, meter, int(doc["ts"]), int(doc["seq"])


def stored_readings(influx: InfluxServer) -> set[ReadingKey]:
    """Every (station, meter, ts, seq) InfluxDB holds, through one query per measurement."""
    out: set[ReadingKey] = set()
    for measurement, group in (("telemetry", "station"), ("meter", "station, meter")):
        for series in influx.query(
            f'SELECT seq FROM "{measurement}" GROUP BY {group}', db=DATABASE
        ):
            tags = series.get("tags") or {}
            assert isinstance(tags, dict)
            values = series["values"]
            assert isinstance(values, list)
            for ts_ns, seq in values:
                out.add((measurement, str(tags["station"]), str(tags.get("meter", "")),
                         int(ts_ns) // 1_000_000, int(seq)))
    return out


def ground_truth(scenario_path: Path) -> list[dict[str, Any]]:
    path = scenario_path.with_suffix(".truth.jsonl")
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


# -- webhook recorder -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST the alert service made: its Idempotency-Key and the alerts it carried."""

    key: str
    received_at: float
    alerts: tuple[tuple[str, str, str, str], ...]  # (alert id, status, alertname, station)


class Recorder:
    """Loopback webhook receiver recording every POST body and its Idempotency-Key header."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder._add(self.headers.get("Idempotency-Key", ""), body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _add(self, key: str, body: dict[str, Any]) -> None:
        alerts = []
        for a in body.get("alerts", []):
            m = _ALERT_ID.search(a.get("generatorURL", ""))
            alert_id = m.group("id") if m else a.get("fingerprint", "?")
            labels = a.get("labels", {})
            alerts.append((alert_id, a["status"], labels.get("alertname", ""),
                           labels.get("station", "")))
        with self._lock:
            self.deliveries.append(Delivery(key, time.time(), tuple(alerts)))

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def seen(self, status: str, alertname: str, station: str) -> bool:
        return any((s, n, st) == (status, alertname, station)
                   for d in self.snapshot() for _id, s, n, st in d.alerts)

    def open_alerts(self) -> set[str]:
        """Alert ids with a firing notification and no resolved one yet."""
        fired: set[str] = set()
        resolved: set[str] = set()
        for d in self.snapshot():
            for alert_id, status, _n, _st in d.alerts:
                (resolved if status == "resolved" else fired).add(alert_id)
        return fired - resolved

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- service processes ------------------------------------------------------------------------


def service(name: str, argv: list[str], log_path: Path) -> Child:
    """One heatwatch command as a child process in its own process group (so a kill takes
    its children too), run from the checkout."""
    return Child(name, argv, log_path, cwd=REPO, own_group=True)


def metric(port: int, name: str) -> float:
    """A Prometheus sample's value from a service's /metrics; -1 while it does not answer."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1.0).text
    except httpx.HTTPError:
        return -1.0
    m = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


class Stack:
    """Servers, collector, alert engine and simulator(s) of one chaos test, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.broker = MosquittoServer(root / "mosquitto")
        self.influx = InfluxServer(root / "influxdb")
        self.recorder = Recorder()
        self.start_at = 0.0
        self.scenario = root / "scenario.yaml"
        self.registry = root / "registry.yaml"
        self.collector_metrics = free_port()
        self.alerts_metrics = free_port()
        self.collector: Child | None = None
        self.alerts: Child | None = None
        self.simulators: list[Child] = []
        self.burst_scenarios: list[Path] = []

    @property
    def broker_address(self) -> tuple[str, int]:
        return self.broker.host, self.broker.port

    # ---- lifecycle ----

    def start(self, *, lead_s: float = 1.0) -> None:
        """Servers, then collector and alerts (connected), then the simulator, whose scenario
        starts ``lead_s`` from now (its clock is pinned, see module doc). The start is fixed
        only once the services are up, so that :meth:`at` offsets match the simulator's clock
        to within its own start-up time."""
        self.broker.start()
        self.influx.start()
        self.influx.create_database(DATABASE)
        self._write_scenario(time.time())  # the registry does not depend on the start
        subprocess.run(
            heatwatch_argv("simulate", "--scenario", str(self.scenario), "--write-registry",
                       str(self.registry), "--registry-only"),
            cwd=REPO, check=True, stdout=subprocess.DEVNULL,
        )
        self.collector = service(
            "collector", heatwatch_argv("collect", "-c", str(self._collector_cfg())),
            self.root / "logs" / "collector.log")
        self.alerts = service("alerts", heatwatch_argv("alerts", "-c", str(self._alerts_cfg())),
                              self.root / "logs" / "alerts.log")
        self.start_collector()
        self.start_alerts()
        self._write_scenario(time.time() + lead_s)
        sim = service("simulator", heatwatch_argv("simulate", "--scenario", str(self.scenario)),
                      self.root / "logs" / "simulator.log")
        sim.start()
        self.simulators.append(sim)

    def _write_scenario(self, start: float) -> None:
        self.start_at = round(start, 3)
        scenario(self.scenario, start=self.start_at, broker=self.broker_address,
                 client_id="chaos-sim")

    def start_collector(self) -> None:
        assert self.collector is not None
        before = metric(self.collector_metrics, "heatwatch_collector_mqtt_connects_total")
        assert before < 0, "a collector already answers on its metrics port"
        self.collector.start()
        wait_for(lambda: metric(self.collector_metrics,
                                "heatwatch_collector_mqtt_connects_total") >= 1,
                 30, "collector connected to the broker")

    def start_alerts(self) -> None:
        assert self.alerts is not None
        marker = self.alerts.log_text().count("alert engine connected to MQTT")
        self.alerts.start()
        wait_for(lambda: self.alerts is not None
                 and self.alerts.log_text().count("alert engine connected to MQTT") > marker,
                 30, "alert engine connected to the broker")

    def burst(self, *, factor: int = 10, duration_s: float = 20.0) -> Path:
        """A second fleet, ``factor`` times the main one, publishing for ``duration_s``."""
        path = self.root / f"burst-{len(self.burst_scenarios)}.yaml"
        scenario(path, start=float(int(time.time() + 2)), broker=self.broker_address,
                 client_id=f"chaos-burst-{len(self.burst_scenarios)}", stations=15 * factor,
                 duration_s=duration_s, station_id_format="bx-{:05d}", faults=False, seed=23)
        sim = service(path.stem, heatwatch_argv("simulate", "--scenario", str(path)),
                      self.root / "logs" / f"{path.stem}.log")
        sim.start()
        self.simulators.append(sim)
        self.burst_scenarios.append(path)
        return path

    def at(self, offset_s: float) -> None:
        """Sleep until ``offset_s`` of simulated (= wall) time from the scenario's start: the
        scenario is on the wall clock, so this is the one wait that is a time, not a state."""
        delay = self.start_at + offset_s - time.time()
        if delay > 0:
            time.sleep(delay)

    def wait_simulators(self, timeout: float = 120.0) -> None:
        """Every simulator exits 0 (it drains its PUBACKs before it exits)."""
        for sim in self.simulators:
            code = sim.wait(timeout)
            assert code == 0, f"{sim.name} exited {code}:\n{sim.log_text()[-3000:]}"

    def close(self) -> None:
        """Stop everything that is still running; safe after any failure."""
        for svc in [*self.simulators, self.alerts, self.collector]:
            if svc is not None:
                svc.stop(timeout=15)
        self.recorder.close()
        for server in (self.influx, self.broker):
            with contextlib.suppress(ServerError, OSError):  # best-effort teardown
                server.stop()

    # ---- configs ----

    def _collector_cfg(self) -> Path:
        return write_settings(self.root / "collector.yaml", CollectorSettings(
            mqtt=self.broker.settings("chaos-collector", reconnect_min_delay=0.2,
                                      reconnect_max_delay=2.0),
            influx=self.influx.settings(DATABASE, transport="v1", timeout=5.0),
            registry=self.registry,
            batch=BatchSettings(flush_interval=0.2),
            spool=SpoolSettings(dir=self.root / "spool", retry_min_delay=0.2,
                                retry_max_delay=2.0),
            dead_letter=DeadLetterSettings(file=self.root / "rejected.jsonl"),
            metrics=CollectorMetrics(host="127.0.0.1", port=self.collector_metrics),
        ))

    def _alerts_cfg(self) -> Path:
        rules = self.root / "rules.yaml"
        rules.write_text(yaml.safe_dump(RULES))
        return write_settings(self.root / "alerts.yaml", AlertsSettings(
            mqtt=self.broker.settings("chaos-alerts", reconnect_min_delay=0.2,
                                      reconnect_max_delay=2.0),
            influx=self.influx.settings(DATABASE),
            registry=self.registry,
            rules=rules,
            state_db=self.root / "alerts.db",
            evaluate_interval_s=0.5,
            notifications=NotifySettings(
                interval_s=0.2,
                external_url=EXTERNAL_URL,
                webhooks={"chaos": WebhookConfig(url=self.recorder.url,
                                                 external_url=EXTERNAL_URL)},
            ),
            metrics=AlertsMetrics(host="127.0.0.1", port=self.alerts_metrics),
        ))

    # ---- verdicts ----

    def published(self) -> set[ReadingKey]:
        out = published_readings(self.scenario)
        for path in self.burst_scenarios:
            out |= published_readings(path)
        return out

    def store_event_count(self) -> int:
        """Alert events the engine recorded (each must reach InfluxDB's ``alert_events``)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.root / 'alerts.db'}?mode=ro",
                                                uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def outbox_pending(self) -> int:
        """Notifications the alert service has not delivered yet (its SQLite outbox)."""
        db = self.root / "alerts.db"
        if not db.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchone()
        return int(row[0])

    def wait_all_stored(self, expected: set[ReadingKey], timeout: float = 90.0) -> None:
        """Wait until InfluxDB holds every published reading (it may take a spool replay)."""
        wait_for(lambda: expected <= stored_readings(self.influx), timeout,
                 f"all {len(expected)} published readings in InfluxDB")

    def assert_nothing_lost(self, expected: set[ReadingKey]) -> None:
        stored = stored_readings(self.influx)
        lost = sorted(expected - stored)
        extra = sorted(stored - expected)
        assert not lost, f"{len(lost)} of {len(expected)} readings lost, e.g. {lost[:10]}"
        assert not extra, f"{len(extra)} stored readings never published, e.g. {extra[:10]}"


def notification_problems(
    deliveries: list[Delivery], truth: list[dict[str, Any]]
) -> list[str]:
    """Everything wrong with the notifications of a run (empty list: all good).

    * no Idempotency-Key twice (a redelivery would be a duplicate to a receiver that ignores
      the key);
    * per alert id exactly one ``firing`` and then exactly one ``resolved`` (a message lists
      the group's other alerts still firing too, as Alertmanager's does: an alert listed
      firing again in a later message of its group is its state, not a new notification);
    * every injected fault raised one of its expected rules on its station;
    * no alert on a station without a fault (a chaos action is not a heating fault).
    """
    problems: list[str] = []
    keys = [d.key for d in deliveries]
    dup_keys = sorted({k for k in keys if keys.count(k) > 1})
    if dup_keys:
        problems.append(f"Idempotency-Key delivered more than once: {dup_keys}")
    if any(not k for k in keys):
        problems.append("a delivery without Idempotency-Key")
    per_alert: dict[str, list[str]] = {}
    names: dict[str, tuple[str, str]] = {}
    for d in deliveries:
        for alert_id, status, name, station in d.alerts:
            per_alert.setdefault(alert_id, []).append(status)
            names[alert_id] = (name, station)
    for alert_id, listed in sorted(per_alert.items()):
        statuses = [s for i, s in enumerate(listed)
                    if not (s == "firing" and i and listed[i - 1] == "firing")]
        if statuses != ["firing", "resolved"]:
            problems.append(f"alert {names[alert_id]} {alert_id}: notifications {statuses}, "
                            "expected exactly ['firing', 'resolved']")
    fired = {names[a] for a, s in per_alert.items() if "firing" in s}
    faulted = {row["station"] for row in truth}
    for row in truth:
        backup = bool(row.get("details", {}).get("backup_power", False))
        expected = EXPECTED_RULES[(row["kind"], backup)]
        if not any((rule, row["station"]) in fired for rule in expected):
            problems.append(f"fault {row['kind']} on {row['station']}: none of "
                            f"{sorted(expected)} fired (fired: {sorted(fired)})")
    for name, station in sorted(fired):
        if station not in faulted:
            problems.append(f"alert {name} fired on {station or 'the fleet'}, which had no fault")
    return problems
