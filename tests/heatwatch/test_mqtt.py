"""The MQTT client factory (heatwatch/mqtt.py) and the one client-id rule (heatwatch/settings.py).

Unit tests check that what the settings say ends up on the paho client; the broker test proves
the will, the persistent session and the typed handlers against a real Mosquitto.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from alerts.notify.mqtt import MqttChannelConfig
from alerts.settings import AlertsSettings
from api.config import ApiSettings
from collector.config import CollectorSettings
from heatwatch.cli import main as heatwatch_main
from heatwatch.local.servers import MosquittoServer
from heatwatch.mqtt import Handlers, MqttError, Session, Will, make_client
from heatwatch.settings import (
    CLIENT_ID_MAX,
    ConfigError,
    HeatwatchSettings,
    MqttSettings,
    check_client_id,
    derived_client_id,
    load_settings,
)
from simulators.scenario import SimulatorSettings

# -- the client-id rule -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    ("", "an MQTT client id must not be empty"),
    ("x" * (CLIENT_ID_MAX + 1), f"at most {CLIENT_ID_MAX} characters, not {CLIENT_ID_MAX + 1}"),
    ("collector\n2", "must not contain control characters (U+000A at position 9)"),
    ("a\x00b", "(U+0000 at position 1)"),
])
def test_client_id_errors_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="client id") as err:
        check_client_id(value)
    assert message in str(err.value)


def test_client_id_accepts_what_brokers_accept() -> None:
    for value in ("heatwatch-collector", "x" * CLIENT_ID_MAX, "zähler 7/B"):
        assert check_client_id(value) == value


def test_a_bad_client_id_in_a_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text('mqtt:\n  client_id: "collector\\t1"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(CollectorSettings, path)
    text = str(err.value)
    assert "mqtt.client_id:" in text and "U+0009 at position 9" in text
    assert "HEATWATCH_MQTT__CLIENT_ID" in text


def test_derived_ids_stay_valid_and_distinct() -> None:
    assert derived_client_id("heatwatch-sim", "gw-0001") == "heatwatch-sim-gw-0001"
    long = "c" * CLIENT_ID_MAX
    a, b = derived_client_id(long, "gw-0001"), derived_client_id(long, "gw-0002")
    assert len(a) == CLIENT_ID_MAX and a != b and a.endswith("-gw-0001")
    with pytest.raises(ValueError, match="control characters"):
        derived_client_id("sim", "gw\r1")


@pytest.mark.parametrize(("cls", "own"), [
    (CollectorSettings, "heatwatch-collector"),
    (AlertsSettings, "heatwatch-alerts"),
    (ApiSettings, "heatwatch-api"),
    (SimulatorSettings, "heatwatch-sim"),
])
def test_each_service_has_its_own_client_id(
    cls: type[HeatwatchSettings], own: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"dev_mode": True} if cls is ApiSettings else {}
    assert cls.mqtt_client_id == own
    # no mqtt block at all, a block without client_id (file), and only an env variable
    assert load_settings(cls, **extra).mqtt.client_id == own  # type: ignore[attr-defined]
    assert load_settings(cls, mqtt={"port": 1884}, **extra).mqtt.client_id == own  # type: ignore[attr-defined]
    monkeypatch.setenv("HEATWATCH_MQTT__HOST", "127.0.0.2")
    loaded = load_settings(cls, **extra)
    assert loaded.mqtt.client_id == own and loaded.mqtt.host == "127.0.0.2"  # type: ignore[attr-defined]
    named = load_settings(cls, mqtt={"client_id": "site-7"}, **extra)
    assert named.mqtt.client_id == "site-7"  # type: ignore[attr-defined]


def test_the_channel_config_extends_the_shared_settings() -> None:
    cfg = MqttChannelConfig(tls=True, ca_file=Path("/ca.pem"), cert_file=Path("/c.pem"),
                            key_file=Path("/k.pem"), qos=0)
    assert isinstance(cfg, MqttSettings)
    assert cfg.client_id == "heatwatch-alerts-notify"
    assert (cfg.reconnect_min_delay, cfg.reconnect_max_delay) == (1.0, 120.0)  # paho's
    with pytest.raises(ValueError, match="must not be empty"):
        MqttChannelConfig(client_id="")
    with pytest.raises(ValueError, match="greater than 0"):
        MqttChannelConfig(reconnect_min_delay=0)
    with pytest.raises(ValueError, match="reconnect_max_delay must be >="):
        MqttChannelConfig(reconnect_min_delay=5, reconnect_max_delay=2)


# -- what the factory puts on the paho client -------------------------------------------------


def test_factory_applies_auth_will_session_and_windows() -> None:
    settings = MqttSettings(host="127.0.0.1", port=1884, username="collector",
                            password="pw-1", client_id="unit", keepalive=45,
                            reconnect_min_delay=0.2, reconnect_max_delay=3.5)
    made = make_client(settings, Handlers(), client_id="unit-gw1",
                       will=Will("heat/st-1/status", b"offline"), max_inflight=7,
                       max_queued=70)
    c = made.paho
    assert made.client_id == "unit-gw1" and c.protocol == mqtt.MQTTv311
    assert (c.username, c.password) == ("collector", "pw-1")
    assert (c.will_topic, c.will_payload) == ("heat/st-1/status", b"offline")
    assert (c.max_inflight_messages, c.max_queued_messages) == (7, 70)
    assert c.callback_api_version is CallbackAPIVersion.VERSION2
    # not exposed by paho as properties: read its fields to prove the settings reached it
    assert (c._reconnect_min_delay, c._reconnect_max_delay) == (0.2, 3.5)
    assert c._will_qos == 1 and c._will_retain is True
    assert c._clean_session is True and c.suppress_exceptions is True
    assert c._ssl_context is None  # tls off


def test_persistent_session_by_protocol() -> None:
    settings = MqttSettings(client_id="persist")
    v3 = make_client(settings, Handlers(), session=Session(persistent=True), manual_ack=True)
    assert v3.paho._clean_session is False and v3.paho._manual_ack is True
    v5 = make_client(settings, Handlers(), protocol="5",
                     session=Session(persistent=True, expiry=600, receive_maximum=50))
    assert v5.paho.protocol == mqtt.MQTTv5


def test_tls_settings_give_a_verifying_context(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(MqttError, match="TLS files unusable") as err:
        make_client(MqttSettings(tls=True, ca_file=missing, client_id="tls-unit"), Handlers())
    assert "tls-unit" in str(err.value)
    made = make_client(MqttSettings(tls=True, client_id="tls-sys"), Handlers())  # system CAs
    ctx = made.paho._ssl_context
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_the_factory_refuses_a_bad_derived_id() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        make_client(MqttSettings(), Handlers(), client_id="")


def test_a_bad_host_is_an_mqtt_error() -> None:
    made = make_client(MqttSettings(host="", client_id="x"), Handlers())
    with pytest.raises(MqttError, match="cannot connect to :1883"):
        made.start()


# -- against a real broker ----------------------------------------------------------------------


class _Watcher:
    """A foreign client (plain paho) that records the retained status topic."""

    def __init__(self, broker: MosquittoServer, topic: str) -> None:
        self.payloads: list[bytes] = []
        self.got = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="factory-watcher")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.got:
            self.payloads.append(bytes(msg.payload))
            self.got.notify_all()

    def wait_for(self, payload: bytes, timeout: float) -> bool:
        with self.got:
            return self.got.wait_for(lambda: payload in self.payloads, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_will_session_and_handlers_on_a_real_broker(
    protocol: str, own_mosquitto: MosquittoServer
) -> None:
    broker = own_mosquitto
    topic = f"heat/st-factory-{protocol}/status"
    settings = MqttSettings(host=broker.host, port=broker.port, client_id=f"factory-{protocol}",
                            reconnect_min_delay=0.1, reconnect_max_delay=0.5)
    # The handlers only record what they are told (lists are safe across threads here).
    sessions: list[bool] = []
    reasons: list[str] = []
    subacks: list[list[str | None]] = []
    acked: list[int] = []
    messages: list[mqtt.MQTTMessage] = []

    watcher = _Watcher(broker, topic)
    made = make_client(
        settings,
        Handlers(connected=sessions.append, disconnected=reasons.append,
                 message=messages.append, published=acked.append, subscribed=subacks.append),
        protocol=protocol,  # type: ignore[arg-type]
        session=Session(persistent=True, expiry=600, receive_maximum=20),
        will=Will(topic, b"offline"),
    )
    try:
        made.start()
        wait_for(lambda: sessions == [False], 10, "CONNACK")  # a new persistent session
        made.paho.subscribe([(f"heat/+/echo-{protocol}", 1)])
        wait_for(lambda: subacks == [[None]], 10, "SUBACK")
        info = made.paho.publish(topic, b"online", qos=1, retain=True)
        wait_for(lambda: info.mid in acked, 10, "PUBACK")
        assert watcher.wait_for(b"online", 10)
        made.paho.publish(f"heat/st-1/echo-{protocol}", b"ping", qos=1)
        wait_for(lambda: [(m.topic, m.payload) for m in messages]
                 == [(f"heat/st-1/echo-{protocol}", b"ping")], 10, "the echo")

        # power cut: the socket dies without DISCONNECT, so the broker publishes the will
        sock = made.paho.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        assert watcher.wait_for(b"offline", 10), watcher.payloads
        wait_for(lambda: len(sessions) == 2, 10, "reconnect")  # paho reconnected by itself...
        assert sessions[1] is True  # ...into the session the broker kept
        assert reasons, "the lost connection was reported"
    finally:
        made.stop()
        watcher.close()


@pytest.mark.parametrize("service", ["collect", "alerts"])
def test_unreadable_tls_files_stop_a_service_with_exit_2(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing-ca.pem"
    cfg = tmp_path / f"{service}.yaml"
    own = {"collect": f"spool:\n  dir: {tmp_path / 'spool'}\n",
           "alerts": f"state_db: {tmp_path / 'alerts.db'}\n"}[service]
    cfg.write_text(f"mqtt:\n  tls: true\n  ca_file: {missing}\n{own}metrics:\n  port: 0\n",
                   encoding="utf-8")
    assert heatwatch_main([service, "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "TLS files unusable" in err and "No such file" in err
