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
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from heatwatch.settings import InfluxSettings

__all__ = ["InfluxQL", "InfluxUnavailable", "Param", "Series"]

Param = str | int | float | bool
Observer = Callable[[float, bool], None]


class InfluxUnavailable(Exception):
    """InfluxDB could not answer (down, refused, or rejected the query); ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Series:
    """One series of one statement's result."""

    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.values]


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
        # 2.x answers InfluxQL for a bucket through its DBRP mapping (a virtual one exists for
        # every bucket), as alerts.history does.
        self.database = (settings.bucket if settings.transport == "v2" and settings.bucket
                         else settings.database)
        headers: dict[str, str] = {"Accept": "application/json"}
        auth: httpx.BasicAuth | None = None
        if settings.transport == "v2" and settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._headers, self._auth = headers, auth
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
            result = self._parse(resp)
            ok = True
            return result
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} is unreachable: {_why(exc)}") from exc
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - start, ok)

    def _parse(self, resp: httpx.Response) -> list[list[Series]]:
        if resp.status_code in (401, 403):
            raise InfluxUnavailable(
                f"InfluxDB refused the API's credentials (HTTP {resp.status_code}); "
                "check influx.username/password or influx.token"
            )
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise InfluxUnavailable(
                f"InfluxDB answered HTTP {resp.status_code} with a body that is not JSON"
            ) from exc
        if not isinstance(body, dict):
            raise InfluxUnavailable("InfluxDB answered with an unexpected JSON document")
        if resp.status_code >= 400 or "error" in body:
            raise InfluxUnavailable(
                f"InfluxDB refused the query (HTTP {resp.status_code}): {body.get('error')}"
            )
        out: list[list[Series]] = []
        for statement in body.get("results", []):
            if "error" in statement:
                raise InfluxUnavailable(f"InfluxDB refused the query: {statement['error']}")
            out.append(
                [
                    Series(
                        name=s.get("name", ""),
                        columns=s.get("columns", []),
                        values=s.get("values", []),
                        tags=s.get("tags") or {},
                    )
                    for s in statement.get("series", [])
                ]
            )
        return out


def _why(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
