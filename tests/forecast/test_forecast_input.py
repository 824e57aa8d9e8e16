"""The forecast input on the real Mosquitto and InfluxDB: receive, reject, poll, store, retry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from forecast_helpers import H, issue, querier, writer
from openmeteo_server import OpenMeteoServer, recorded_response
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY
from support import wait_for

from alerts.notify.influx import SinkError
from forecast.inputs import ForecastInput
from forecast.settings import ForecastSettings, build_forecast_settings
from forecast.store import load_forecasts
from forecast.weather import ForecastBook
from forecast.wire import encode_forecast, forecast_topic
from heatwatch.local.servers import InfluxServer, MosquittoServer
from heatwatch.settings import MqttSettings
from simulators.publisher import MqttSink
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

NOW = time.time()
ISSUED = float(int(NOW // H) * H)


def publish(broker: MosquittoServer, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def mqtt_settings(broker: MosquittoServer, prefix: str) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, prefix=prefix)


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("heatwatch_forecast_rejected_total",
                                     {"source": "mqtt", "reason": reason}) or 0.0


@pytest.fixture
def started() -> Iterator[list[ForecastInput]]:
    inputs: list[ForecastInput] = []
    yield inputs
    for i in inputs:
        i.stop()


def test_mqtt_forecasts_reach_the_book_and_influxdb(
    mosquitto: MosquittoServer, influx: InfluxServer, database: str,
    started: list[ForecastInput],
) -> None:
    prefix = "fc1"
    f = issue("north", ISSUED, [-2.0, -3.0, -4.0])
    publish(mosquitto, forecast_topic(prefix, "north"), encode_forecast(f))  # retained before
    book = ForecastBook()
    inp = ForecastInput(ForecastSettings(), book, mqtt_settings=mqtt_settings(mosquitto, prefix),
                        client_id="fc-test-1", write=writer(influx, database),
                        write_errors=(SinkError,))
    inp.start()
    started.append(inp)
    wait_for(lambda: book.latest("north") == f)
    assert REGISTRY.get_sample_value("heatwatch_forecast_latest_issued_at_seconds",
                                     {"zone": "north"}) == f.issued_at
    # a bad message is counted and logged; the next good one still arrives
    before = rejected("not_increasing")
    bad = (b'{"v": 1, "issued_at": %d, "points": [{"at": %d, "outdoor_temp": 1}, '
           b'{"at": %d, "outdoor_temp": 1}]}' % (ISSUED, ISSUED + 7200, ISSUED + 3600))
    publish(mosquitto, forecast_topic(prefix, "south"), bad)
    wait_for(lambda: rejected("not_increasing") == before + 1)
    g = issue("south", ISSUED, [5.0])
    publish(mosquitto, forecast_topic(prefix, "south"), encode_forecast(g))
    wait_for(lambda: book.latest("south") == g)
    publish(mosquitto, forecast_topic(prefix, "south"), b"")  # clearing the retained topic
    wait_for(lambda: inp.stored_issues == 2)
    stored = load_forecasts(querier(influx, database), ISSUED - H, ISSUED + 10 * H)
    assert stored == [f, g]
    assert book.latest("south") == g


def test_open_meteo_polls_are_stored_with_their_source(
    influx: InfluxServer, database: str, open_meteo: OpenMeteoServer,
    started: list[ForecastInput],
) -> None:
    local = time.strftime("%Y-%m-%dT%H:00", time.gmtime(ISSUED))
    open_meteo.answer(recorded_response(local, [1.0, 2.0, 3.0], timezone="GMT", offset_s=0))
    settings = build_forecast_settings({"mqtt": {"enabled": False}, "open_meteo": [
        {"zone": "east", "url": open_meteo.url, "latitude": 43.3, "longitude": 21.9}]})
    book = ForecastBook()
    # The poll's clock is the test's hour: the suite may run this past the next hour boundary.
    inp = ForecastInput(settings, book, write=writer(influx, database),
                        write_errors=(SinkError,), clock=lambda: ISSUED + 60)
    inp.start()
    started.append(inp)
    wait_for(lambda: inp.stored_issues == 1)
    f = book.latest("east")
    assert f is not None and f.source == "open-meteo"
    assert [p.outdoor_temp for p in f.points] == [1.0, 2.0, 3.0]
    assert load_forecasts(querier(influx, database), ISSUED - H, ISSUED + 10 * H) == [f]


def test_storage_waits_for_influxdb(own_influx: InfluxServer, started: list[ForecastInput]
                                    ) -> None:
    own_influx.create_database("fc")
    own_influx.stop()
    book = ForecastBook()
    inp = ForecastInput(build_forecast_settings({"mqtt": {"enabled": False}}), book,
                        write=writer(own_influx, "fc"), write_errors=(SinkError,))
    inp.start()
    started.append(inp)
    f = issue("north", ISSUED, [1.0, 2.0])
    inp.accept(f)
    assert book.latest("north") == f  # the book does not wait for InfluxDB
    time.sleep(1.5)  # at least one failed write
    assert inp.stored_issues == 0
    own_influx.start()
    wait_for(lambda: inp.stored_issues == 1, timeout=30)
    assert load_forecasts(querier(own_influx, "fc"), ISSUED - H, ISSUED + 5 * H) == [f]


def test_store_off_stores_nothing(influx: InfluxServer, database: str) -> None:
    calls: list[list[str]] = []
    inp = ForecastInput(build_forecast_settings({"mqtt": {"enabled": False},
                                                 "store": {"enabled": False}}),
                        ForecastBook(), write=calls.append)
    inp.start()
    inp.accept(issue("north", ISSUED, [1.0]))
    inp.stop()
    assert calls == [] and inp.stored_issues == 0


def test_simulator_forecasts_end_to_end(mosquitto: MosquittoServer, influx: InfluxServer,
                                        database: str, started: list[ForecastInput]) -> None:
    prefix = "fcsim"
    sim_settings = SimulatorSettings.model_validate({
        "seed": 5, "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix},
        "time": {"duration": "3h"},
        "fleet": {"stations": 3, "zones": ["a", "b"], "flats_per_station": [2, 3]},
        "forecast": {"enabled": True, "horizon_h": 12, "bias_k": 1.0, "noise_k_24h": 2.0},
    })
    book = ForecastBook()
    inp = ForecastInput(ForecastSettings(), book,
                        mqtt_settings=mqtt_settings(mosquitto, prefix), client_id="fc-sim",
                        write=writer(influx, database), write_errors=(SinkError,))
    inp.start()
    started.append(inp)
    wait_for(inp.connected.is_set)
    sim = Simulation(sim_settings)
    sink = MqttSink(sim.fleet.layout, sim_settings.mqtt)
    try:
        sim.run(sink)
    finally:
        sink.close()
    assert sim.forecasts is not None
    start = sim.fleet.start
    first_issue = start // H * H  # hourly issues from the start's hour to the last step's
    last_issue = (start + 3 * H - sim.fleet.dt) // H * H
    issues = round((last_issue - first_issue) / H) + 1
    wait_for(lambda: all((f := book.latest(z)) is not None and f.issued_at == last_issue
                         for z in ("a", "b")))
    wait_for(lambda: inp.stored_issues == 2 * issues)
    expected = sim.forecasts.forecaster.issue("a", last_issue)
    assert book.latest("a") == expected
    # the forecast is not the truth: bias and noise are there
    truth = [sim.fleet.weather.temperature(p.at) for p in expected.points]
    assert any(abs(p.outdoor_temp - t) > 0.05 for p, t in zip(expected.points, truth,
                                                             strict=True))


def test_refused_issue_is_counted_not_retried(influx: InfluxServer, database: str,
                                              started: list[ForecastInput]) -> None:
    write = writer(influx, database)
    # outdoor_temp stored as a string first: InfluxDB refuses the float points (type conflict)
    write([f'weather_forecast,lead=1,source=mqtt,zone=north outdoor_temp="warm" '
           f"{round((ISSUED + H) * 1e9)}"])
    before = REGISTRY.get_sample_value("heatwatch_forecast_store_dropped_total",
                                       {"reason": "refused"}) or 0.0
    inp = ForecastInput(build_forecast_settings({"mqtt": {"enabled": False}}), ForecastBook(),
                        write=write, write_errors=(SinkError,))
    inp.start()
    started.append(inp)
    inp.accept(issue("north", ISSUED, [1.0, 2.0]))
    wait_for(lambda: REGISTRY.get_sample_value("heatwatch_forecast_store_dropped_total",
                                               {"reason": "refused"}) == before + 1)
    # the next issue is not held up behind it (another week: another shard, no conflict there)
    inp.accept(issue("south", ISSUED - 30 * 86400, [1.0]))
    wait_for(lambda: inp.stored_issues == 1)
