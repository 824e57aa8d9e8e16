"""Readiness against the real Mosquitto and InfluxDB; 503s when they are gone; metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from api_helpers import AppFactory, auth

from api.probes import ProbeFailed, mqtt_probe
from heatwatch.local.servers import free_port
from heatwatch.settings import InfluxSettings, MqttSettings

pytestmark = pytest.mark.anyio


async def test_readyz_with_real_servers(client: httpx.AsyncClient) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"ready": True, "checks": {
        "influxdb": {"ok": True}, "mqtt": {"ok": True}, "alerts_db": {"ok": True}}}


async def test_readyz_names_what_is_down(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer names the dependency; why it failed is in the log only
    (tests/security/test_api_exposure.py checks that nothing internal is sent)."""
    dead = free_port()
    app = make_app(influx=InfluxSettings(url=f"http://127.0.0.1:{dead}"))
    services = app.state.services
    services.settings = services.settings.model_copy(
        update={"mqtt": MqttSettings(port=dead)})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        resp = await c.get("/readyz")
        assert resp.status_code == 503
        checks = resp.json()["checks"]
        assert checks == {"influxdb": {"ok": False}, "mqtt": {"ok": False},
                          "alerts_db": {"ok": True}}
        log = "\n".join(r.getMessage() for r in caplog.records)
        assert "influxdb: InfluxDB at" in log and "unreachable" in log
        assert f":{dead} is unreachable" in log
        # Data routes translate the same failure into a 503 naming the dependency.
        stations = await c.get("/api/v1/stations", headers=auth("viewer"))
        assert stations.status_code == 503
        assert stations.json() == {"detail": "InfluxDB is unavailable",
                                   "dependency": "influxdb"}
        history = await c.get("/api/v1/stations/s1/history?field=flow", headers=auth("viewer"))
        assert history.status_code == 503 and history.headers["retry-after"] == "5"
        await services.influx.aclose()


async def test_query_error_of_influxdb_is_503(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    services = app.state.services
    services.influx.database = "no_such_db"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        resp = await c.get("/api/v1/zones/north", headers=auth("viewer"))
        assert resp.status_code == 503 and resp.json()["dependency"] == "influxdb"
        assert "database not found" in caplog.text
        await services.influx.aclose()


async def test_mqtt_probe_reports_refused_credentials() -> None:
    """A broker that refuses our credentials is not ready (scripted broker: it answers the
    CONNECT it received with CONNACK code 4, after checking what the probe sent)."""
    received: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(256))
        writer.write(b"\x20\x02\x00\x04")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = MqttSettings(port=port, username="api", password="s3cret")
        with pytest.raises(ProbeFailed, match="refused the connection: bad user name"):
            await mqtt_probe(settings)
    packet = received[0]
    assert packet[0] == 0x10 and packet[2:8] == b"\x00\x04MQTT"
    assert packet[9] == 0xC2  # username + password + clean session
    assert packet.endswith(b"\x00\x03api\x00\x06s3cret")
    assert b"heatwatch-ready-" in packet


async def test_mqtt_probe_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(ProbeFailed, match=r"did not answer within 0\.3 s"):
            await mqtt_probe(MqttSettings(port=port), timeout=0.3)


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/alerts/abc", headers=auth("viewer"))
    await client.get("/api/v1/alerts/def", headers=auth("viewer"))
    await client.get("/api/v1/alerts")
    text = (await client.get("/metrics")).text
    assert ('heatwatch_api_requests_total{method="GET",route="/alerts/{alert_id}",'
            'status="404"} 2.0') in text
    assert 'heatwatch_api_auth_failures_total{status="401"} 1.0' in text
