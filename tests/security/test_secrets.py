"""Secrets never reach logs, error bodies, reprs or configuration error messages.

Each service runs as the operator runs it (``heatwatch <service> -c file``, log level DEBUG)
with every secret it can hold configured: API keys (clients send them; the API holds hashes),
InfluxDB password and token, MQTT password (wrong, so the refusal is logged), SMTP password,
robot tokens, Alertmanager bearer token, webhook Authorization header. Then we provoke the error
paths (401 with a wrong key, 403, 422, a /readyz that fails because InfluxDB and the broker are
unreachable, refused MQTT logins) and search everything the process wrote and answered for any
secret substring. A secret printed once at DEBUG in a 3 a.m. log file is a leaked secret.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from security_helpers import SecureBroker
from support import wait_for

from alerts.settings import load_alerts_settings
from api.config import load_api_settings
from collector.config import load_collector_settings
from heatwatch.local.servers import free_port, wait_for_port
from heatwatch.settings import ConfigError, MqttSettings, load_settings

pytestmark = pytest.mark.servers

SECRETS = {
    "mqtt": "Mqtt-Zq81-secret-pw",
    "influx_password": "Infl-Xk27-secret-pw",
    "influx_token": "Tokn-Pw55-secret-tk",
    "smtp": "Smtp-Rr09-secret-pw",
    "dingtalk_token": "Ding-Tk64-secret-tk",
    "dingtalk_secret": "SECding-Ss31-secret",
    "wecom": "Wcom-Kk77-secret-key",
    "alertmanager": "Amgr-Bt12-secret-tk",
    "webhook_header": "Hook-Hd48-secret-tk",
}
API_KEYS = {
    "viewer": "hw_viewer-Vv19-secret-key-0123456789",
    "admin": "hw_admin-Aa73-secret-key-0123456789",
}
WRONG_KEY = "hw_wrong-Ww40-secret-key-0123456789"


def _assert_clean(text: str, where: str, extra: tuple[str, ...] = ()) -> None:
    for secret in (*SECRETS.values(), *API_KEYS.values(), *extra):
        assert secret not in text, f"secret {secret[:6]}... appears in {where}"


def _closed_port() -> int:
    return free_port()  # nothing listens there: connection refused


def _influx_block(url: str) -> dict[str, Any]:
    return {"transport": "v1", "url": url, "database": "hw", "username": "heatwatch",
            "password": SECRETS["influx_password"], "timeout": 2.0}


def _mqtt_block(port: int, client_id: str) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "username": "collector",
            "password": SECRETS["mqtt"], "client_id": client_id,
            "reconnect_min_delay": 0.5, "reconnect_max_delay": 1.0}


def _notifications(dead: str) -> dict[str, Any]:
    """Every channel that holds a secret, all pointed at a port where nobody listens."""
    return {
        "webhooks": {"hook": {"url": f"{dead}/hook",
                              "headers": {"Authorization": f"Bearer {SECRETS['webhook_header']}"}}},
        "email": {"mail": {"host": "127.0.0.1", "port": int(dead.rsplit(":", 1)[1]),
                           "tls": "starttls", "username": "hw", "password": SECRETS["smtp"],
                           "from_addr": "hw@example.org", "to": ["crew@example.org"]}},
        "alertmanager": {"am": {"url": dead, "bearer_token": SECRETS["alertmanager"]}},
        "dingtalk": {"ding": {"url": f"{dead}/robot/send",
                              "access_token": SECRETS["dingtalk_token"],
                              "secret": SECRETS["dingtalk_secret"]}},
        "wecom": {"wc": {"url": f"{dead}/cgi-bin/webhook/send", "key": SECRETS["wecom"]}},
    }


class Service:
    """``heatwatch --log-level DEBUG <cmd> -c cfg`` with its output in a file."""

    def __init__(self, tmp: Path, name: str, cmd: str, cfg: dict[str, Any]) -> None:
        self.cfg = tmp / f"{name}.yaml"
        self.cfg.write_text(yaml.safe_dump(cfg))
        self.log = tmp / f"{name}.log"
        self._fh = self.log.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEATWATCH_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heatwatch.cli", "--log-level", "DEBUG", cmd, "-c",
             str(self.cfg)],
            stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._fh.close()
        return self.output()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for s in started:
        s.stop()


def test_api_error_bodies_and_debug_log_hold_no_secret(
    tmp_path: Path, services: list[Service]
) -> None:
    port = free_port()
    dead = f"http://127.0.0.1:{_closed_port()}"
    cfg = {
        "server": {"host": "127.0.0.1", "port": port},
        "keys": [{"name": f"{role}-key", "role": role,
                  "sha256": hashlib.sha256(key.encode()).hexdigest()}
                 for role, key in API_KEYS.items()],
        "alerts_db": str(tmp_path / "alerts.db"),
        "influx": {**_influx_block(dead), "token": SECRETS["influx_token"]},
        "mqtt": _mqtt_block(_closed_port(), "sec-api"),
        "log_level": "DEBUG",
    }
    api = Service(tmp_path, "api", "api", cfg)
    services.append(api)
    wait_for_port(port, timeout=60)
    base = f"http://127.0.0.1:{port}"
    bodies: list[str] = []
    with httpx.Client(base_url=base, timeout=20) as http:
        viewer = {"Authorization": f"Bearer {API_KEYS['viewer']}"}
        admin = {"Authorization": f"Bearer {API_KEYS['admin']}"}
        cases = [
            ("GET", "/api/v1/stations", {"Authorization": f"Bearer {WRONG_KEY}"}, None, 401),
            ("GET", "/api/v1/stations", {"Authorization": WRONG_KEY}, None, 401),
            ("GET", f"/api/v1/stations?key={WRONG_KEY}", {}, None, 401),
            ("POST", "/api/v1/windows", viewer, {"scope": "station"}, 403),
            # FastAPI's 422 echoes the offending input back to the client that sent it (its
            # own data, not a leak); what must not appear is anything the server holds.
            ("POST", "/api/v1/windows", admin, {"scope": "nowhere", "reason": "x"}, 422),
            ("GET", "/api/v1/stations/s1/history?field=x%20y", viewer, None, None),
            ("GET", "/readyz", {}, None, 503),
            ("GET", "/api/v1/stations", viewer, None, None),  # InfluxDB down: 5xx or empty
            ("GET", "/metrics", {}, None, 200),
        ]
        for method, path, headers, body, want in cases:
            resp = http.request(method, path, headers=headers, json=body)
            if want is not None:
                assert resp.status_code == want, (path, resp.status_code, resp.text)
            bodies.append(f"{resp.status_code} {resp.headers} {resp.text}")
    time.sleep(0.5)
    out = api.stop()
    assert "DEBUG" in out  # the log level took effect
    # Nor is the key a client sent (right or wrong) echoed back or logged.
    _assert_clean("\n".join(bodies), "API responses", (WRONG_KEY,))
    _assert_clean(out, "API log", (WRONG_KEY,))


def test_collector_and_alerts_debug_logs_hold_no_secret(
    tmp_path: Path, services: list[Service], secure_broker: SecureBroker
) -> None:
    """Wrong MQTT password on a real TLS broker (refused, logged), InfluxDB unreachable (spool,
    write errors, warm-up failure), every notification channel configured."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    mqtt = {**_mqtt_block(secure_broker.tls_port, "sec-c"), "tls": True,
            "ca_file": str(secure_broker.pki.ca)}
    collector = Service(tmp_path, "collector", "collect", {
        "mqtt": mqtt,
        "influx": _influx_block(dead),
        "spool": {"dir": str(tmp_path / "spool")},
        "dead_letter": {"file": str(tmp_path / "rejected.jsonl")},
        "metrics": {"port": 0, "selfstats_interval": 1.0, "log_interval": 1.0},
        "log_level": "DEBUG",
    })
    alerts = Service(tmp_path, "alerts", "alerts", {
        "mqtt": {**mqtt, "client_id": "sec-a", "username": "alerts"},
        "influx": {**_influx_block(dead), "token": SECRETS["influx_token"]},
        "state_db": str(tmp_path / "alerts.db"),
        "notifications": _notifications(dead),
        "metrics": {"port": 0},
        "log_level": "DEBUG",
    })
    services += [collector, alerts]
    wait_for(lambda: "refused" in collector.output(), 30,
             lambda: f"the collector refused: {collector.output()[-3000:]}")
    wait_for(lambda: "refused" in alerts.output() or alerts.proc.poll() is not None, 30,
             lambda: f"the alert engine refused: {alerts.output()[-3000:]}")
    time.sleep(2.5)  # a few summary / selfstats intervals
    for svc, name in ((collector, "collector log"), (alerts, "alerts log")):
        out = svc.stop()
        assert "refused" in out and "InfluxDB" in out, out[-2000:]  # both error paths ran
        _assert_clean(out, name)


# -- settings reprs and configuration errors ----------------------------------------------


def _all_secret_settings(tmp: Path) -> dict[str, Any]:
    return {
        "mqtt": _mqtt_block(1883, "x"),
        "influx": {**_influx_block("http://127.0.0.1:8086"), "token": SECRETS["influx_token"]},
    }


def test_settings_reprs_and_dumps_hide_secrets(tmp_path: Path) -> None:
    base = _all_secret_settings(tmp_path)
    loaded = [
        load_collector_settings(None, **base),
        load_alerts_settings(None, **base, state_db=str(tmp_path / "a.db"),
                             notifications=_notifications("http://127.0.0.1:9")),
        load_api_settings(None, **base, alerts_db=str(tmp_path / "a.db"),
                          keys=[{"name": "k", "role": "admin",
                                 "sha256": hashlib.sha256(b"k").hexdigest()}]),
    ]
    for s in loaded:
        for text in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
            _assert_clean(text, f"{type(s).__name__} repr/dump")  # webhook headers included


def test_webhook_authorization_header_is_hidden_in_reprs(tmp_path: Path) -> None:
    s = load_alerts_settings(None, state_db=str(tmp_path / "a.db"),
                             notifications=_notifications("http://127.0.0.1:9"))
    assert SECRETS["webhook_header"] not in repr(s)


@pytest.mark.parametrize("loader", [load_collector_settings, load_alerts_settings,
                                    load_api_settings])
def test_config_errors_do_not_echo_secret_values(tmp_path: Path, loader: Any) -> None:
    secret = SECRETS["mqtt"]
    cases = {
        # a YAML syntax error on the password's own line (PyYAML quotes the line)
        "syntax.yaml": f'mqtt:\n  host: 127.0.0.1\n  password: "{secret}\n  port: 1\n',
        "tab.yaml": f"mqtt:\n  password: {secret}\n\tport: 1\n",
        # a typo'd key next to the password, a password of the wrong type, a bad sibling
        "typo.yaml": f"mqtt:\n  pasword: {secret}\n",
        "type.yaml": f"mqtt:\n  password: [{secret}]\n",
        "sibling.yaml": f"mqtt:\n  password: {secret}\n  port: {secret}\n",
        "influx.yaml": f"influx:\n  token: {secret}\n  transport: v9\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            loader(path)
        message = str(info.value)
        assert secret not in message, f"{name}: {message}"
        # not in the chained exceptions either (a traceback prints them)
        cause = info.value.__cause__ or (None if info.value.__suppress_context__
                                         else info.value.__context__)
        assert cause is None or secret not in str(cause), f"{name}: {cause}"


def test_environment_override_errors_do_not_echo_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = SECRETS["influx_password"]
    monkeypatch.setenv("HEATWATCH_MQTT__PORT", secret)
    monkeypatch.setenv("HEATWATCH_MQTT__PASSWORD", secret)
    with pytest.raises(ConfigError) as info:
        load_collector_settings(None)
    assert "HEATWATCH_MQTT__PORT" in str(info.value)
    assert secret not in str(info.value)


def test_mqtt_settings_repr_hides_password() -> None:
    s = load_settings_block(password=SECRETS["mqtt"])
    assert SECRETS["mqtt"] not in repr(s) and "**" in repr(s)
    assert s.password is not None and s.password.get_secret_value() == SECRETS["mqtt"]


def load_settings_block(**kw: Any) -> MqttSettings:
    return MqttSettings.model_validate(kw)


def test_load_settings_error_lists_keys_not_values(tmp_path: Path) -> None:
    """The generic loader every service uses: paths and reasons, never the input."""
    from collector.config import CollectorSettings

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"mqtt": {"password": SECRETS["mqtt"],
                                             "keepalive": SECRETS["smtp"]}}))
    with pytest.raises(ConfigError) as info:
        load_settings(CollectorSettings, path)
    assert "mqtt.keepalive" in str(info.value)
    _assert_clean(str(info.value), "ConfigError")
