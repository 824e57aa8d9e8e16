"""Start and stop the real Mosquitto, InfluxDB 1.x and Alertmanager servers on loopback.

Tests, benchmarks and ``heatwatch run`` all need the same thing: a broker and a database that
belong to this process, on free loopback ports, with their files under one run directory, that
can be stopped, killed and restarted on the same port and data (to prove that no reading is lost
when they go away). Keeping that here means no test invents its own half-working variant.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import httpx

from heatwatch.influx import InfluxClient, InfluxUnavailable
from heatwatch.retention import RetentionSettings, apply_retention
from heatwatch.settings import InfluxSettings, MqttSettings

__all__ = [
    "AlertmanagerServer",
    "InfluxServer",
    "MosquittoServer",
    "ServerError",
    "free_port",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A local server could not be found, started or reached."""


def free_port() -> int:
    """Ask the kernel for a port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, *, timeout: float = 20.0, host: str = LOOPBACK) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _find_binary(name: str, candidates: tuple[str, ...]) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    raise ServerError(
        f"{name} is not installed; run 'make setup' (it installs Debian's package) "
        f"or put {name} on PATH"
    )


class _Process:
    """One child server process with a log file; start/stop/kill keep port and data."""

    name = "server"

    def __init__(self, run_dir: Path, port: int | None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = LOOPBACK
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _wait_ready(self, timeout: float) -> None:
        wait_for_port(self.port, timeout=timeout)

    def start(self, *, timeout: float = 30.0) -> None:
        if self.running:
            return
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self._command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.run_dir,
            start_new_session=True,
        )
        try:
            self._wait_ready(timeout)
        except ServerError as exc:
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise ServerError(f"{self.name} did not start: {exc}\n{tail}") from exc

    def stop(self, *, timeout: float = 20.0) -> None:
        """Graceful stop (SIGTERM), as a service manager would do."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Abrupt stop (SIGKILL): what a power cut or OOM kill looks like."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._wait_port_free()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def __enter__(self) -> _Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Why these broker limits: stock Mosquitto keeps at most 1000 queued QoS 1 messages per client
# and then silently drops the rest ("Outgoing messages are being dropped"); a collector that is
# restarting or catching up falls far behind that. We bound the queue by bytes instead (1 GiB per
# client) and allow a large in-flight window so that a collector which acks after each stored
# batch is never starved. docs/deployment.md explains the same numbers for production.
MOSQUITTO_LIMITS = """\
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 1073741824
max_packet_size 1048576
persistent_client_expiration 7d
set_tcp_nodelay true
"""


class MosquittoServer(_Process):
    """Debian's mosquitto with persistence, on a loopback port of its own."""

    name = "mosquitto"

    def __init__(
        self, run_dir: Path, *, port: int | None = None, extra_conf: str = ""
    ) -> None:
        super().__init__(Path(run_dir), port)
        self.binary = _find_binary("mosquitto", ("/usr/sbin/mosquitto",))
        self.extra_conf = extra_conf
        self.conf_path = self.run_dir / "mosquitto.conf"

    def settings(self, client_id: str, **more: Any) -> MqttSettings:
        """The ``mqtt`` block of a service connecting here as ``client_id`` (``more``: other
        keys of the block, validated)."""
        return MqttSettings(host=self.host, port=self.port, client_id=client_id, **more)

    def _command(self) -> list[str]:
        data = self.run_dir / "data"
        data.mkdir(exist_ok=True)
        self.conf_path.write_text(
            f"listener {self.port} {self.host}\n"
            # Started as root, Mosquitto drops to user 'mosquitto', which cannot write its
            # persistence file in our run directory: every restart would forget sessions and
            # queued messages. Naming the current user keeps it (ignored when not root).
            f"user {getpass.getuser()}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 60\n"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "connection_messages false\n"
            f"{MOSQUITTO_LIMITS}"
            f"{self.extra_conf}"
        )
        return [self.binary, "-c", str(self.conf_path)]


INFLUX_CONF = """\
reporting-disabled = true
bind-address = "{host}:{rpc_port}"

[meta]
  dir = "{dir}/meta"
  logging-enabled = false

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = true
  check-interval = "30m"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{host}:{port}"
  auth-enabled = false
  log-enabled = false
  max-body-size = 0

[subscriber]
  enabled = false

[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "1s"

[logging]
  level = "warn"
"""


class InfluxServer(_Process):
    """Debian's influxd 1.x (v1 HTTP API, InfluxQL) on a loopback port of its own."""

    name = "influxdb"

    def __init__(self, run_dir: Path, *, port: int | None = None) -> None:
        super().__init__(Path(run_dir), port)
        self.binary = _find_binary("influxd", ("/usr/bin/influxd",))
        self.rpc_port = free_port()
        self.conf_path = self.run_dir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        self.conf_path.write_text(
            INFLUX_CONF.format(
                host=self.host, port=self.port, rpc_port=self.rpc_port, dir=self.run_dir
            )
        )
        return [self.binary, "-config", str(self.conf_path)]

    def settings(self, database: str, **more: Any) -> InfluxSettings:
        """The ``influx`` block of a service using ``database`` here (``more``: other keys of
        the block, validated)."""
        return InfluxSettings(url=self.url, database=database, **more)

    def client(self, db: str = "heatwatch", *, timeout: float = 60.0) -> InfluxClient:
        """A client of this server for database ``db`` (close it after use)."""
        return InfluxClient(InfluxSettings(url=self.url, database=db), timeout=timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise ServerError(f"influxd exited with code {self._proc.returncode}")
                if client.ping():
                    return
                time.sleep(0.1)
        raise ServerError(f"influxd not answering /ping on port {self.port}")

    def query(self, q: str, *, db: str | None = None) -> list[dict[str, object]]:
        """Run an InfluxQL query and return the series of its first statement, as InfluxDB's
        JSON has them (``name``, ``columns``, ``values``, ``tags`` with ``GROUP BY``)."""
        with self.client(db or "heatwatch") as client:
            try:
                series = client.series(q)
            except InfluxUnavailable as exc:
                raise ServerError(f"InfluxQL error: {exc.detail}") from exc
        return [{"name": s.name, "columns": s.columns, "values": s.values,
                 **({"tags": s.tags} if s.tags else {})} for s in series]

    def create_database(self, db: str, retention: RetentionSettings | None = None) -> None:
        """Create ``db``; with ``retention``, also its policies and hourly continuous queries
        (heatwatch.retention: raw data expires, hourly aggregates stay for years)."""
        with self.client(db) as client:
            client.series(f'CREATE DATABASE "{db}"')
            if retention is not None:
                apply_retention(client.series, db, retention)

    def count(self, measurement: str, field: str, *, db: str, where: str = "") -> int:
        """Number of stored points of a measurement (counted through one field)."""
        clause = f" WHERE {where}" if where else ""
        series = self.query(f'SELECT count("{field}") FROM "{measurement}"{clause}', db=db)
        if not series:
            return 0
        values = series[0]["values"]
        assert isinstance(values, list)
        return int(values[0][1])


class AlertmanagerServer(_Process):
    """Debian's prometheus-alertmanager with its own config and storage, clustering off.

    With ``webhook_url``, Alertmanager's own notifications go there (``send_resolved``), grouped
    by ``group_by``: the channel tests compare its webhook with ours. Without, its receiver
    sends nothing: the latency benchmark reads the alert list instead.
    """

    name = "alertmanager"

    def __init__(self, run_dir: Path, webhook_url: str | None = None, *,
                 group_by: tuple[str, ...] | None = None, group_wait: str = "0s") -> None:
        super().__init__(run_dir, None)
        self.binary = _find_binary("prometheus-alertmanager",
                                   ("/usr/bin/prometheus-alertmanager",))
        self.webhook_url = webhook_url
        self.group_by = group_by
        self.group_wait = group_wait
        self.url = f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        route: dict[str, Any] = {"receiver": "null", "group_wait": self.group_wait,
                                 "group_interval": "1s", "repeat_interval": "1h"}
        receiver: dict[str, Any] = {"name": "null"}
        if self.webhook_url is not None:
            route["receiver"] = receiver["name"] = "hook"
            receiver["webhook_configs"] = [{"url": self.webhook_url, "send_resolved": True}]
        if self.group_by is not None:
            route["group_by"] = list(self.group_by)
        conf = self.run_dir / "alertmanager.yml"  # YAML is a superset of JSON
        conf.write_text(json.dumps({"route": route, "receivers": [receiver]}))
        (self.run_dir / "data").mkdir(exist_ok=True)
        return [self.binary, f"--config.file={conf}", f"--storage.path={self.run_dir}/data",
                f"--web.listen-address={self.host}:{self.port}", "--cluster.listen-address=",
                "--log.level=warn"]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ServerError(f"alertmanager not ready on {self.url}")
