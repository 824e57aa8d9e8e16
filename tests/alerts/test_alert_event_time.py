"""``clock: event``: the alerts service on the readings' own time, fed by the simulator in
accelerated mode through the real Mosquitto, fires and resolves what the in-process replay
does, at the same event times (give or take one evaluation), however fast the run goes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.service import AlertsService, EventClock
from alerts.settings import load_alerts_settings
from alerts.store import Store
from heatwatch.local.servers import MosquittoServer
from heatwatch.registry import Registry
from heatwatch.settings import ConfigError
from heatwatch.wire import Decoder
from simulators.layout import registry_data
from simulators.publisher import MqttSink
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

START = "2026-01-12T00:00:00+08:00"
T0 = 1768147200.0  # START as epoch seconds


def test_event_clock_quorum_ignores_a_station_running_ahead() -> None:
    clock = EventClock(quorum=2)
    assert not clock.started
    assert clock.advance("a", 100.0) == 100.0  # one station: its time
    assert clock.advance("b", 101.0) == 101.0  # two: k = 1 (at most half of them)
    assert clock.advance("fast", 400.0) == 101.0  # three: k = 2, only one station says 400
    assert clock.advance("b", 110.0) == 110.0
    assert clock.advance("a", 120.0) == 120.0
    assert clock.advance("a", 105.0) == 120.0  # never back
    assert clock.advance("b", 130.0) == 130.0
    # "a" dies: time goes on with the others
    assert clock.advance("c", 140.0) == 140.0 and clock.advance("b", 150.0) == 150.0
    single = EventClock(quorum=1)
    assert single.advance("a", 10.0) == 10.0 and single.advance("b", 50.0) == 50.0


def test_event_clock_needs_warmup_off(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"warmup\.enabled: false"):
        load_alerts_settings(None, clock="event", state_db=tmp_path / "a.db")
    with pytest.raises(ConfigError, match="clock"):
        load_alerts_settings(None, clock="sundial", state_db=tmp_path / "a.db")


def _scenario(prefix: str, port: int) -> SimulatorSettings:
    return SimulatorSettings.model_validate({
        "seed": 5,
        "mqtt": {"host": "127.0.0.1", "port": port, "prefix": prefix,
                 "client_id": f"sim-{prefix}"},
        "time": {"start": START, "duration": "16m"},  # accelerated, flat out
        "weather": {"mean_temp": -12.0, "daily_amplitude": 0.0, "anomaly_std": 0.0,
                    "cold_wave_rate_per_day": 0.0},
        "fleet": {"stations": 3, "flats_per_station": [12, 12]},
        # one message in flight per gateway: the broker gets them in simulated-time order
        # across gateways (give or take a step), as it would from real devices
        "reporting": {"offline_on_exit": False, "max_inflight": 1},
        "faults": [
            # after the start-up grace (5 min): the will fires, station_offline at once
            {"kind": "power_loss", "station": "st-00002", "start": "6m", "duration": "4m"},
            # pump_stopped holds 2 min
            {"kind": "pump_trip", "station": "st-00003", "start": "5m", "duration": "5m"},
        ],
    })


def _incidents(store: Store) -> list[tuple[str, str, float, float | None]]:
    return sorted((a.rule, a.subject, a.fired_at, a.resolved_at)
                  for a in store.alerts() if a.fired_at is not None)


def _replay(cfg: SimulatorSettings, rules: RulesConfig, reg: Registry, db: Path
            ) -> list[tuple[str, str, float, float | None]]:
    """The same scenario in-process on the simulated clock, evaluated every second."""
    sim = Simulation(cfg)
    now = [sim.fleet.start]
    store = Store(db)
    engine = Engine(rules, store, lambda: now[0], registry=reg)
    dec = Decoder(prefix=cfg.mqtt.prefix, clock=lambda: now[0])

    def feed(topic: str, payload: bytes, at: float) -> None:
        for r in dec.decode(topic, payload).readings:
            engine.observe(r, at)

    for s in range(3):
        m = sim.encoder.status(s, True)
        feed(m.topic, m.payload, now[0])
    for frame, status, data in sim.frames():
        for g in frame.gateways_down:
            m = sim.encoder.status(int(sim.fleet.layout.gateway_stations(g)[0]), False)
            feed(m.topic, m.payload, frame.t)
        for m in status:
            feed(m.topic, m.payload, frame.t)
        for g in frame.gateways_up:
            for s in sim.fleet.layout.gateway_stations(g).tolist():
                m = sim.encoder.status(s, True)
                feed(m.topic, m.payload, frame.t)
        data.sort(key=lambda m: m.delay)
        for k in range(1, 11):
            for m in [m for m in data if k - 1 <= m.delay < k]:
                feed(m.topic, m.payload, frame.t + m.delay)
            now[0] = frame.t + k
            engine.evaluate(now[0])
    out = _incidents(store)
    store.close()
    return out


@pytest.mark.servers
def test_accelerated_scenario_through_mqtt_on_event_time(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    cfg = _scenario("evt", mosquitto.port)
    rules_data: dict[str, Any] = {"defaults": {"heating": {"timezone": "Etc/GMT-8"}}}
    rules = RulesConfig.model_validate(rules_data)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_data))
    reg_data = registry_data(Simulation(cfg).fleet.layout)
    (tmp_path / "registry.yaml").write_text(json.dumps(reg_data))
    settings = load_alerts_settings(
        None, mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "evt",
                    "client_id": "alerts-evt"},
        rules=tmp_path / "rules.yaml", registry=tmp_path / "registry.yaml",
        state_db=tmp_path / "alerts.db", clock="event", warmup={"enabled": False},
        write_events=False, metrics={"port": 0, "selfstats_interval": 0},
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    wall0 = time.monotonic()
    try:
        assert service.connected.wait(10)
        time.sleep(0.3)  # let the subscription land
        sim = Simulation(cfg)
        sink = MqttSink(sim.fleet.layout, cfg.mqtt, max_inflight=cfg.reporting.max_inflight)
        try:
            stats = sim.run(sink)
        finally:
            sink.close()
        sent = stats.station_messages + stats.flat_messages
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and service.inbox.qsize() > 0:
            time.sleep(0.05)
        time.sleep(0.5)  # the last message observed, its ticks evaluated
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
    wall = time.monotonic() - wall0
    store = Store(tmp_path / "alerts.db")
    got = _incidents(store)
    store.close()
    expected = _replay(cfg, rules, Registry.model_validate(reg_data), tmp_path / "replay.db")

    assert [(r, s) for r, s, _f, _r in got] == [("pump_stopped", "st-00003"),
                                              ("station_offline", "st-00002")]
    assert [(r, s) for r, s, _f, _r in expected] == [(r, s) for r, s, _f, _r in got]
    # Event time is the 2nd latest of 3 stations' newest readings: it runs up to one reporting
    # interval behind the newest, and a status (no timestamp of its own) happens at it. A
    # hold ends when event time passes it, so a firing may come up to two intervals after the
    # replay's (the broker gets messages in simulated-time order give or take a step: a full
    # suite under load saw 14 s), as the pump's own bound below allows.
    for (_r, _s, fired, resolved), (_r2, _s2, fired2, resolved2) in zip(got, expected,
                                                                        strict=True):
        assert resolved is not None and resolved2 is not None, "every alert resolved"
        assert abs(fired - fired2) <= 20 and abs(resolved - resolved2) <= 10
    pump, offline = got
    # start + hold, give or take: the stopped pump's first reading (up to one interval after
    # the start) may be observed while event time is still up to one interval behind it
    assert T0 + 300 + 120 - 10 <= pump[2] <= T0 + 300 + 120 + 20
    assert T0 + 360 - 10 <= offline[2] <= T0 + 360 + 10  # the will: at once
    # power back: the `online` status happens at event time, which may still be up to one
    # interval behind the frame that published it (seen 0.9 s early under load)
    assert offline[3] is not None and T0 + 600 - 10 <= offline[3] <= T0 + 620
    assert sent > 100 and wall < 30, (sent, wall)  # 16 simulated minutes in seconds
