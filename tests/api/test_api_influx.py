"""The InfluxQL client's requests and its error translation (scripted server: pure unit)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import httpx
import pytest

from api.influx import InfluxQL, InfluxUnavailable
from heatwatch.settings import InfluxSettings

pytestmark = pytest.mark.anyio


def scripted(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content)

    return httpx.MockTransport(handler)


async def test_v2_uses_the_token_and_the_bucket() -> None:
    seen: list[httpx.Request] = []
    settings = InfluxSettings.model_validate({
        "transport": "v2", "url": "http://db:8086/", "org": "o", "bucket": "heat",
        "token": "t0k", "database": "unused"})
    client = InfluxQL(settings, transport=scripted(200, {"results": [{"series": [
        {"name": "telemetry", "tags": {"station": "s1"}, "columns": ["time", "last"],
         "values": [[1, 2.5]]}]}]}, seen))
    [[series]] = await client.query('SELECT last("x") FROM "telemetry" WHERE "station" = $s',
                                    {"s": 'a" OR 1=1'})
    assert series.tags == {"station": "s1"}
    assert list(series.rows()) == [{"station": "s1", "time": 1, "last": 2.5}]
    request = seen[0]
    assert str(request.url) == "http://db:8086/query"
    assert request.headers["authorization"] == "Token t0k"
    form = parse_qs(request.content.decode())
    assert form["db"] == ["heat"] and form["epoch"] == ["ms"]
    assert json.loads(form["params"][0]) == {"s": 'a" OR 1=1'}  # bound, never spliced
    assert '$s' in form["q"][0]
    await client.aclose()


async def test_v1_basic_auth() -> None:
    seen: list[httpx.Request] = []
    settings = InfluxSettings(username="api", password="pw")  # type: ignore[arg-type]
    client = InfluxQL(settings, transport=scripted(200, {"results": [{}]}, seen))
    assert await client.query("SELECT 1") == [[]]
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert parse_qs(seen[0].content.decode())["db"] == ["heatwatch"]
    await client.aclose()


@pytest.mark.parametrize(("status", "body", "reason"), [
    (401, {"error": "authorization failed"}, "refused the credentials"),
    (400, {"error": "error parsing query"}, "refused the query (HTTP 400): error parsing"),
    (200, {"results": [{"error": "database not found: x"}]}, "database not found"),
    (502, b"<html>bad gateway</html>", "HTTP 502 with a body that is not JSON"),
    (200, [1, 2], "unexpected JSON document"),
])
async def test_errors_become_influx_unavailable(status: int, body: object, reason: str) -> None:
    outcomes: list[bool] = []
    client = InfluxQL(InfluxSettings(), transport=scripted(status, body, []),
                      observe=lambda _s, ok: outcomes.append(ok))
    with pytest.raises(InfluxUnavailable, match=re.escape(reason)):
        await client.query("SELECT 1")
    assert outcomes == [False]
    await client.aclose()
