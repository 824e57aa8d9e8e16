"""The shipped broker on loopback: deploy/mosquitto/mosquitto.conf run through entrypoint.sh.

The attack and fault tests must hit the configuration an operator deploys, not a look-alike, so
this renders the shipped mosquitto.conf for a temporary directory (every ``/mosquitto/`` path
moves there, every ``listener <port>`` becomes a free loopback port) and starts it through the
shipped entrypoint, which builds the password files and the ACL from the environment. TLS
material comes from scripts/make-certs.sh, the script the operator runs.

``listeners`` maps each shipped port (1883, 8883) to the loopback port it got and whether the
block configures TLS, so a test can try an attack on every listener the file defines.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from heatwatch.local.servers import ServerError, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
MAKE_CERTS = ROOT / "scripts" / "make-certs.sh"

# What .env gives the broker's entrypoint; the demo account only when asked for.
SERVICE_PASSWORDS = {
    "MQTT_COLLECTOR_PASSWORD": "pw-collector-7Hq",
    "MQTT_ALERTS_PASSWORD": "pw-alerts-2Zr",
    "MQTT_API_PASSWORD": "pw-api-9Kd",
}
STATIONS = {"st-1": "pw-st-1-4Tb", "st-2": "pw-st-2-8Wc"}


@dataclass(frozen=True)
class Listener:
    shipped_port: int
    port: int
    tls: bool


@dataclass
class ShippedBroker:
    dir: Path
    conf: Path
    env: dict[str, str]
    listeners: dict[int, Listener]
    ca: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def log(self) -> Path:
        return self.dir / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["sh", str(MOSQUITTO_DIR / "entrypoint.sh")], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            for listener in self.listeners.values():
                wait_for_port(listener.port, timeout=10)
        except ServerError as exc:
            self.stop()
            raise ServerError(f"{exc}\n{self.log.read_text(errors='replace')[-2000:]}") from exc

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            self.proc.wait(20)
        self.proc = None
        for listener in self.listeners.values():  # the next start reuses the ports
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", listener.port), 0.2).close()
                except OSError:
                    break
                time.sleep(0.05)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash, a power cut, the OOM killer; nothing gets saved on the way out."""
        self._signal(signal.SIGKILL)

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def port_of(self, shipped: int) -> int:
        return self.listeners[shipped].port


_LISTENER = re.compile(r"^listener\s+(\d+)(\s+\S+)?\s*$")


def render_conf(text: str, run_dir: Path) -> tuple[str, dict[int, Listener]]:
    """The shipped file with its paths under ``run_dir`` and its listeners on loopback."""
    out = [f"user {getpass.getuser()}"]  # as root, Mosquitto would switch to 'mosquitto'
    listeners: dict[int, Listener] = {}
    current: int | None = None
    for line in text.replace("/mosquitto/", f"{run_dir}/").splitlines():
        m = _LISTENER.match(line.strip())
        if m:
            current = int(m.group(1))
            listeners[current] = Listener(current, free_port(), tls=False)
            line = f"listener {listeners[current].port} 127.0.0.1"
        elif current is not None and line.strip().startswith("certfile "):
            listeners[current] = Listener(current, listeners[current].port, tls=True)
        out.append(line)
    return "\n".join(out) + "\n", listeners


def shipped_broker(
    run_dir: Path, *, extra_env: Mapping[str, str] | None = None, conf_text: str | None = None
) -> ShippedBroker:
    """Prepare (not start) the shipped broker in ``run_dir`` with two station accounts."""
    for sub in ("config", "stations", "data", "certs"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    passwd = run_dir / "stations" / "city.passwd"
    for i, (user, password) in enumerate(STATIONS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password],
                       check=True, capture_output=True, timeout=30)
    subprocess.run(["sh", str(MAKE_CERTS), "-d", str(run_dir / "certs"), "127.0.0.1",
                    "localhost"], check=True, capture_output=True, timeout=60)
    text = conf_text if conf_text is not None else (
        MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    conf, listeners = render_conf(text, run_dir)
    conf_path = run_dir / "mosquitto.conf"
    conf_path.write_text(conf, encoding="utf-8")
    # The compose file mounts the ACL into the container; the entrypoint reads it from here.
    shutil.copy(MOSQUITTO_DIR / "acl", run_dir / "config" / "acl")
    env = {
        **os.environ, **SERVICE_PASSWORDS, **(extra_env or {}),
        "MOSQUITTO_DIR": str(run_dir), "MOSQUITTO_INIT": str(MOSQUITTO_DIR),
        "MOSQUITTO_CONF": str(conf_path), "MOSQUITTO_BIN": shutil.which("mosquitto") or "",
    }
    return ShippedBroker(run_dir, conf_path, env, listeners, run_dir / "certs" / "ca.crt")
