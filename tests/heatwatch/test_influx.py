"""heatwatch.influx, the one InfluxDB client: the requests it sends (credentials, database,
bound parameters, write paths) and what each answer means (scripted transports: pure unit),
plus queries and writes against the real InfluxDB 1.x from tests/conftest.py."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import httpx
import pytest

from heatwatch.influx import (
    AsyncInfluxClient,
    InfluxClient,
    InfluxUnavailable,
    RejectedWriteError,
    RetryableWriteError,
)
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings

V2 = {"transport": "v2", "url": "http://db:8086/", "org": "o", "bucket": "heat",
      "token": "t0k", "database": "unused"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def scripted(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content)

    return httpx.MockTransport(handler)


def form(request: httpx.Request) -> dict[str, str]:
    return dict(httpx.QueryParams(request.content.decode()))


@pytest.mark.anyio
async def test_async_v2_uses_the_token_and_the_bucket() -> None:
    seen: list[httpx.Request] = []
    client = AsyncInfluxClient(
        InfluxSettings.model_validate(V2),
        transport=scripted(200, {"results": [{"series": [
            {"name": "telemetry", "tags": {"station": "s1"}, "columns": ["time", "last"],
             "values": [[1, 2.5]]}]}]}, seen))
    [[series]] = await client.query('SELECT last("x") FROM "telemetry" WHERE "station" = $s',
                                    {"s": 'a" OR 1=1'})
    assert series.tags == {"station": "s1"}
    assert list(series.rows()) == [{"station": "s1", "time": 1, "last": 2.5}]
    request = seen[0]
    assert str(request.url) == "http://db:8086/query"
    assert request.headers["authorization"] == "Token t0k"
    sent = parse_qs(request.content.decode())
    assert sent["db"] == ["heat"] and sent["epoch"] == ["ms"]
    assert json.loads(sent["params"][0]) == {"s": 'a" OR 1=1'}  # bound, never spliced
    assert '$s' in sent["q"][0]
    await client.aclose()


@pytest.mark.anyio
async def test_async_v1_basic_auth() -> None:
    seen: list[httpx.Request] = []
    settings = InfluxSettings(username="api", password="pw")  # type: ignore[arg-type]
    client = AsyncInfluxClient(settings, transport=scripted(200, {"results": [{}]}, seen))
    assert await client.query("SELECT 1") == [[]]
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert parse_qs(seen[0].content.decode())["db"] == ["heatwatch"]
    await client.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "body", "reason"), [
    (401, {"error": "authorization failed"}, "refused the credentials"),
    (400, {"error": "error parsing query"}, "refused the query (HTTP 400): error parsing"),
    (200, {"results": [{"error": "database not found: x"}]}, "database not found"),
    (502, b"<html>bad gateway</html>", "HTTP 502 with a body that is not JSON"),
    (200, [1, 2], "unexpected JSON document"),
])
async def test_async_errors_become_influx_unavailable(status: int, body: object, reason: str
                                                      ) -> None:
    outcomes: list[bool] = []
    client = AsyncInfluxClient(InfluxSettings(), transport=scripted(status, body, []),
                               observe=lambda _s, ok: outcomes.append(ok))
    with pytest.raises(InfluxUnavailable, match=re.escape(reason)):
        await client.query("SELECT 1")
    assert outcomes == [False]
    await client.aclose()


def test_one_set_of_credentials_for_queries_and_both_write_apis() -> None:
    """A token wins (``Authorization: Token``, for 2.x's 1.x-compatible API too); else basic
    auth; every request of a client carries them, queries and writes alike."""
    seen: list[httpx.Request] = []
    cases = [
        ({"url": "http://influx", "database": "heat", "token": "tkn"}, "Token tkn",
         "/write", {"db": "heat", "precision": "ns"}, "heat"),
        (V2, "Token t0k", "/api/v2/write",
         {"org": "o", "bucket": "heat", "precision": "ns"}, "heat"),
        ({"url": "http://influx", "database": "heat", "username": "u", "password": "pw"},
         "Basic dTpwdw==", "/write", {"db": "heat", "precision": "ns"}, "heat"),
    ]
    for block, auth, path, params, db in cases:
        seen.clear()
        with InfluxClient(InfluxSettings.model_validate(block),
                          transport=scripted(204, b"", seen)) as client:
            client.write(["m x=1 1"])
        with InfluxClient(InfluxSettings.model_validate(block),
                          transport=scripted(200, {"results": [{}]}, seen)) as client:
            assert client.series("SELECT 1") == []
        write, query = seen
        assert write.url.path == path and dict(write.url.params) == params
        assert write.content == b"m x=1 1\n"
        assert query.url.path == "/query" and form(query)["db"] == db
        assert write.headers["Authorization"] == query.headers["Authorization"] == auth
        assert "u=" not in str(write.url) and "p=" not in str(write.url)  # never in a URL


@pytest.mark.parametrize(("status", "error"), [
    (400, RejectedWriteError), (413, RejectedWriteError), (422, RejectedWriteError),
    (401, RetryableWriteError), (403, RetryableWriteError), (404, RetryableWriteError),
    (408, RetryableWriteError), (429, RetryableWriteError), (500, RetryableWriteError),
    (503, RetryableWriteError),
])
def test_write_answers_are_classified(status: int, error: type[Exception]) -> None:
    client = InfluxClient(InfluxSettings(), transport=scripted(
        status, {"error": "unable to parse 'm x=': bad"}, []))
    with client, pytest.raises(error, match=str(status)) as raised:
        client.write(["m x=", "m x=1 1"])
    assert raised.value.status == status  # type: ignore[attr-defined]
    if isinstance(raised.value, RejectedWriteError):
        assert raised.value.lines == ("m x=",)


@pytest.mark.servers
def test_create_database_again_after_a_404(influx: InfluxServer) -> None:
    """The collector's client creates its database before the first write and again when a
    write says it is missing (dropped while the collector ran)."""
    db = "influx_layer_recreated"
    settings = InfluxSettings(url=influx.url, database=db)
    with InfluxClient(settings, create_database=True) as client:
        client.prepare()
        client.write(["m x=1 1000000000"])
        influx.query(f'DROP DATABASE "{db}"')
        with pytest.raises(RetryableWriteError, match="404"):
            client.write(["m x=2 2000000000"])
        client.write(["m x=3 3000000000"])
        assert client.series('SELECT "x" FROM "m"')[0].values == [[3000000000, 3.0]]
    plain = InfluxClient(InfluxSettings(url=influx.url, database="influx_layer_never"))
    with plain, pytest.raises(RetryableWriteError, match="404"):
        plain.write(["m x=1 1"])  # a client that does not create never does
    assert "influx_layer_never" not in {
        row[0] for row in influx.query("SHOW DATABASES")[0]["values"]}  # type: ignore[index]


@pytest.mark.servers
def test_queries_bind_parameters_on_the_real_server(influx: InfluxServer, database: str
                                                    ) -> None:
    with InfluxClient(InfluxSettings(url=influx.url, database=database)) as client:
        client.write(['t,station=a\\ b x=1 1000000000', "t,station=c x=2 2000000000"])
        [first, second] = client.query(
            'SELECT "x" FROM "t" WHERE "station" = $s; SELECT count("x") FROM "t"',
            {"s": "a b"})
        assert [row["x"] for row in first[0].rows()] == [1.0]
        assert second[0].values == [[0, 2]]
        with pytest.raises(InfluxUnavailable, match="refused the query"):
            client.series("SELECT FROM WHERE")
        assert client.ping()
