"""A small async InfluxQL client over HTTP ``/query`` (InfluxDB 1.x, and 2.x through DBRP).

Why not influxdb-client: it speaks Flux to 2.x and has no async InfluxQL path for 1.x, and the
API needs exactly one thing, fast: run a SELECT with *bound parameters* and get the series back.
User input never becomes InfluxQL text: tag values and times travel in ``params`` (InfluxDB binds
``$name`` itself), and the only identifiers we splice in come from whitelists in our own code.

Every failure is translated here, at the boundary, into :class:`InfluxUnavailable`, which the app
turns into a 503 with a clear body; nothing from httpx leaks into the routes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import httpx
import orjson

from heatwatch import influxql
from heatwatch.influxql import Param, Series
from heatwatch.settings import InfluxSettings

__all__ = ["InfluxQL", "InfluxUnavailable", "Param", "Series"]

Observer = Callable[[float, bool], None]


class InfluxUnavailable(influxql.QueryError):
    """InfluxDB could not answer (down, refused, or rejected the query); ``detail`` says why."""


class InfluxQL:
    """Async InfluxQL over HTTP; one pooled :class:`httpx.AsyncClient` per app."""

    def __init__(
        self,
        settings: InfluxSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self.database = influxql.database(settings)
        self._headers, self._auth = influxql.credentials(settings)
        self._transport = transport  # tests: a scripted server
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observe = observe

    def _http(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop.

        A pooled connection belongs to the loop that opened it; a server runs one loop, but
        test clients may start a loop per request, so a new loop gets a new pool.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            self._client = httpx.AsyncClient(
                timeout=self.settings.timeout,
                headers=self._headers,
                auth=self._auth,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    async def ping(self) -> None:
        """Raise :class:`InfluxUnavailable` unless ``/ping`` answers 204."""
        try:
            resp = await self._http().get(f"{self.url}/ping")
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} is unreachable: {_why(exc)}") from exc
        if resp.status_code != 204:
            raise InfluxUnavailable(f"InfluxDB /ping answered HTTP {resp.status_code}")

    async def query(
        self, q: str, params: Mapping[str, Param] | None = None, *, timeout: float | None = None
    ) -> list[list[Series]]:
        """Run one or more ``;``-separated SELECTs; the series of each statement, in order.

        Times come back as epoch milliseconds. ``timeout`` overrides ``influx.timeout``.
        """
        data = {"q": q, "db": self.database, "epoch": "ms"}
        if params:
            data["params"] = orjson.dumps(dict(params)).decode()
        start = time.perf_counter()
        ok = False
        try:
            resp = await self._http().post(
                f"{self.url}/query", data=data,
                timeout=self.settings.timeout if timeout is None else timeout,
            )
            result = influxql.parse_answer(resp.status_code, resp.content, partial_ok=True)
            ok = True
            return result
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} is unreachable: {_why(exc)}") from exc
        except influxql.QueryError as exc:
            raise InfluxUnavailable(exc.detail) from exc
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - start, ok)


def _why(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
