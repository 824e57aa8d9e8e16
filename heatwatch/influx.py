"""The one InfluxDB layer: connection, credentials, InfluxQL queries and line-protocol writes.

Every service reaches InfluxDB through this module, configured by the shared ``influx`` block
(:class:`heatwatch.settings.InfluxSettings`), so URL, credentials, timeouts and the meaning of
an answer are decided once:

* **Connection**: one pooled ``httpx`` client per :class:`InfluxClient` (per event loop for
  :class:`AsyncInfluxClient`), ``influx.timeout`` on every request. An ``https`` URL is always
  verified: against certifi's CAs, or a private CA named by ``SSL_CERT_FILE``/``SSL_CERT_DIR``.
* **Credentials**: a token when one is set (``Authorization: Token``: 2.x, 3.x, or a 1.x
  behind a token-checking proxy), else a user and password (HTTP basic auth, 1.x), else none.
* **Queries** are InfluxQL over ``POST /query`` with bound ``params`` (user input never
  becomes InfluxQL text). 1.x answers natively; 2.x answers for a bucket through its DBRP
  mapping, so the ``db`` is the bucket there (:func:`database`). Every failure (unreachable,
  refused, a statement error, a truncated result where that is not acceptable) is
  :class:`InfluxUnavailable`, with a ``detail`` for an operator.
* **Writes** are line protocol, ``POST /write`` (``transport: v1``) or ``POST /api/v2/write``
  with org and bucket (``transport: v2``). Both are synchronous on purpose: the collector acks
  MQTT messages only after a write returned, so a write either succeeds or raises one of two
  errors a caller can act on:

  - :class:`RetryableWriteError`: InfluxDB is unreachable, slow (timeout), overloaded (5xx,
    429) or misconfigured (401/403/404: bad credentials, missing database or bucket). Trying
    again later can succeed.
  - :class:`RejectedWriteError`: InfluxDB refused (part of) the data: 400 (unparsable line;
    1.x also for a field type conflict, "partial write: field type conflict"), 413, 422 (2.x:
    "some or all of the data has been rejected. Data that has not been rejected is ingested")
    and any other 4xx (so an answer we do not know cannot block a spool head for ever). The
    same lines will never be accepted; :func:`write_or_quarantine` isolates them (from the
    lines the answer names, else by bisecting) so that the rest is stored.

:class:`InfluxClient` is synchronous (collector, importer, the alert engine's history reads and
event writes, retention, the local test servers); :class:`AsyncInfluxClient` is the API's
pooled async reader. Both build their HTTP clients from :func:`_http_options`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from heatwatch.settings import InfluxSettings

__all__ = [
    "AsyncInfluxClient",
    "InfluxClient",
    "InfluxUnavailable",
    "Param",
    "RejectedWriteError",
    "RetryableWriteError",
    "Series",
    "WriteError",
    "database",
    "parse_answer",
    "refused_lines",
    "write_or_quarantine",
]

log = logging.getLogger(__name__)

Param = str | int | float | bool
Observer = Callable[[float, bool], None]

# Answers about the set-up (credentials, missing database or bucket, timeouts, rate limits):
# the operator or time fixes them, the data is fine. Every other 4xx refuses the data itself.
_RETRYABLE_4XX = frozenset({401, 403, 404, 408, 429})
_PARSE_ERROR = re.compile(r"unable to parse '(.*?)': ")


# -- errors -----------------------------------------------------------------------------------

class InfluxUnavailable(Exception):
    """InfluxDB could not answer a query (down, refused, or rejected it); ``detail`` says why,
    for an operator. ``status`` is the HTTP status when there was an answer."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class WriteError(Exception):
    """A write did not store the batch; ``status`` is the HTTP status when there was one."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


class RetryableWriteError(WriteError):
    """InfluxDB is unavailable or misconfigured right now; the same batch may succeed later."""


class RejectedWriteError(WriteError):
    """InfluxDB refuses (part of) the data itself; resending the same lines cannot help.

    ``lines`` are the refused lines when the answer names them (else empty)."""

    def __init__(self, detail: str, lines: tuple[str, ...] = (), status: int | None = None
                 ) -> None:
        super().__init__(detail, status)
        self.lines = lines


# -- answers ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Series:
    """One series of one statement's result (``tags`` only with ``GROUP BY``)."""

    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each row as a dict of its columns, with the series' tags."""
        for row in self.values:
            yield {**self.tags, **dict(zip(self.columns, row, strict=False))}


def parse_answer(
    status: int, content: bytes, *, partial_ok: bool = False
) -> list[list[Series]]:
    """The series of each statement of a ``/query`` answer, in order; :class:`InfluxUnavailable`
    for any refusal.

    A statement whose result InfluxDB truncated (``partial``, at ``max-row-limit``) is an
    error unless ``partial_ok``: the alert engine's history must not silently miss rows (they
    would read as a quiet fleet); the API's last-value snapshots take what they get.
    """
    if status in (401, 403):
        raise InfluxUnavailable(
            f"InfluxDB refused the credentials (HTTP {status}); "
            "check influx.username/password or influx.token", status)
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise InfluxUnavailable(
            f"InfluxDB answered HTTP {status} with a body that is not JSON", status) from exc
    if not isinstance(body, dict):
        raise InfluxUnavailable("InfluxDB answered with an unexpected JSON document", status)
    if status >= 400 or "error" in body:
        raise InfluxUnavailable(
            f"InfluxDB refused the query (HTTP {status}): {body.get('error')}", status)
    out: list[list[Series]] = []
    for statement in body.get("results") or []:
        if "error" in statement:
            raise InfluxUnavailable(f"InfluxDB refused the query: {statement['error']}", status)
        if statement.get("partial") and not partial_ok:
            raise InfluxUnavailable(
                "InfluxDB truncated the result (max-row-limit); lower the query limit", status)
        out.append([
            Series(s.get("name", ""), s.get("columns", []), s.get("values", []),
                   s.get("tags") or {})
            for s in statement.get("series", [])
        ])
    return out


def refused_lines(body: str) -> tuple[str, ...]:
    """The lines a write's error body names: 1.x and 2.x ``unable to parse '<line>': <reason>``
    (one per refused line; 1.x in ``error``, 2.x in ``message``) or 3.x JSON
    ``{"data": [{"original_line": ...}, ...]}``. Empty when it names none (a field type
    conflict names the field, not the line): then the caller bisects. A name that is not
    exactly one of the batch's lines (1.x can read an unbalanced quote across the newline)
    is ignored by the caller, which then bisects too."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    named: list[str] = []
    if isinstance(doc, dict):
        data = doc.get("data")
        if isinstance(data, list):
            named += [d["original_line"] for d in data
                      if isinstance(d, dict) and isinstance(d.get("original_line"), str)]
        message = doc.get("message", doc.get("error"))  # 2.x "message", 1.x "error"
        if isinstance(message, str):
            body = message
    named += _PARSE_ERROR.findall(body)
    return tuple(named)


def _write_outcome(path: str, status: int, text: str) -> None:
    """Return for a stored batch; else raise the write error the answer means."""
    if 200 <= status < 300:
        return
    detail = f"InfluxDB {path} answered {status}: {text[:300]}"
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        raise RejectedWriteError(detail, refused_lines(text), status)
    raise RetryableWriteError(detail, status)


def write_or_quarantine(
    write: Callable[[list[str]], None], lines: list[str]
) -> list[tuple[str, str]]:
    """Write ``lines``; on a rejection, isolate each refused line.

    Returns the refused lines with InfluxDB's reason (for a dead-letter file); every other
    line is stored. When the answer names the refused lines, those are taken out and the rest
    is written again (2.x already stored it: the second write only overwrites the same points);
    otherwise the batch is bisected. A :class:`RetryableWriteError` at any depth propagates:
    the caller keeps the whole batch for later, and the halves already written become harmless
    duplicates.
    """
    refused: list[tuple[str, str]] = []
    stack = [lines]
    while stack:
        part = stack.pop()
        if not part:
            continue
        try:
            write(part)
        except RejectedWriteError as exc:
            named = set(exc.lines).intersection(part)
            if named:
                refused += [(line, str(exc)) for line in part if line in named]
                stack.append([line for line in part if line not in named])
            elif len(part) == 1:
                refused.append((part[0], str(exc)))
            else:
                mid = len(part) // 2
                stack.append(part[mid:])
                stack.append(part[:mid])
    return refused


# -- requests ---------------------------------------------------------------------------------

def database(settings: InfluxSettings) -> str:
    """The InfluxQL ``db``: 2.x maps a bucket to a database of the same name (DBRP)."""
    if settings.transport == "v2" and settings.bucket:
        return settings.bucket
    return settings.database


def _http_options(settings: InfluxSettings, timeout: float | None) -> dict[str, Any]:
    """What every HTTP client to InfluxDB is built with: base URL, credentials, timeout."""
    headers = {"Accept": "application/json"}
    auth: httpx.BasicAuth | None = None
    if settings.token is not None:
        headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
    elif settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        auth = httpx.BasicAuth(settings.username, password)
    return {"base_url": settings.url.rstrip("/"), "headers": headers, "auth": auth,
            "timeout": settings.timeout if timeout is None else timeout}


def _query_form(q: str, db: str | None, epoch: str, params: Mapping[str, Param] | None
                ) -> dict[str, str]:
    data = {"q": q, "epoch": epoch}
    if db is not None:
        data["db"] = db
    if params:
        data["params"] = orjson.dumps(dict(params)).decode()
    return data


def _unreachable(url: str, exc: httpx.HTTPError) -> InfluxUnavailable:
    why = (str(exc) or type(exc).__name__)[:200]
    return InfluxUnavailable(f"InfluxDB at {url} is unreachable: {why}")


def _body(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


# -- clients ----------------------------------------------------------------------------------

class InfluxClient:
    """Synchronous queries and writes on one pooled :class:`httpx.Client`.

    ``create_database``: on ``transport: v1``, run ``CREATE DATABASE`` (idempotent in 1.x)
    before the first write and again whenever a write says the database is missing (it may
    have been dropped): what the collector and the importer want. Writers that must not create
    one (the alert engine's events, which may go to 2.x's 1.x-compatible ``/write``) leave it
    off. ``transport``: tests only (an :class:`httpx.MockTransport`).
    """

    def __init__(
        self, settings: InfluxSettings, *, timeout: float | None = None,
        create_database: bool = False, transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self.database = database(settings)
        self._create = create_database and settings.transport == "v1"
        self._database_ready = not self._create
        self._http = httpx.Client(**_http_options(settings, timeout), transport=transport)
        if settings.transport == "v2":
            self._write_path = "/api/v2/write"
            self._write_params = {"org": settings.org or "", "bucket": settings.bucket or "",
                                  "precision": "ns"}
        else:
            self._write_path = "/write"
            self._write_params = {"db": settings.database, "precision": "ns"}

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- queries --------------------------------------------------------------------------------

    def query(
        self, q: str, params: Mapping[str, Param] | None = None, *, epoch: str = "ns",
        partial_ok: bool = False,
    ) -> list[list[Series]]:
        """Run one or more ``;``-separated statements; the series of each, in order."""
        return self._query(_query_form(q, self.database, epoch, params), partial_ok)

    def series(self, q: str, params: Mapping[str, Param] | None = None) -> list[Series]:
        """Run one statement; its series (times in epoch nanoseconds)."""
        statements = self.query(q, params)
        return statements[0] if statements else []

    def _query(self, data: dict[str, str], partial_ok: bool) -> list[list[Series]]:
        try:
            resp = self._http.post("/query", data=data)
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, exc) from exc
        return parse_answer(resp.status_code, resp.content, partial_ok=partial_ok)

    def ping(self) -> bool:
        """Whether InfluxDB answers ``/ping`` with 204 (never raises)."""
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    # -- writes ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Get the destination ready at start-up (``create_database``: create it now, not at
        the first write); raises :class:`RetryableWriteError` if InfluxDB cannot be reached.
        2.x buckets are provisioned with their retention and tokens: nothing to do there."""
        if self._create:
            self._ensure_database()

    def _ensure_database(self) -> None:
        try:
            self._query(_query_form(f'CREATE DATABASE "{self.settings.database}"', None, "ns",
                                    None), partial_ok=False)
        except InfluxUnavailable as exc:
            if exc.status not in (401, 403):
                raise RetryableWriteError(f"CREATE DATABASE failed: {exc.detail}",
                                          exc.status) from exc
            # A write-only user may not create databases; the write itself will tell whether
            # the database exists.
            log.warning("cannot CREATE DATABASE %s (%d); assuming it exists",
                        self.settings.database, exc.status)
        self._database_ready = True

    def write(self, lines: list[str]) -> None:
        """Store ``lines`` (line protocol, nanosecond timestamps) or raise a
        :class:`WriteError` saying whether trying again can help (module docstring)."""
        if not lines:
            return
        if not self._database_ready:
            self._ensure_database()
        try:
            resp = self._http.post(self._write_path, params=self._write_params,
                                   content=_body(lines),
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"InfluxDB write failed: {exc!r}") from exc
        if resp.status_code == 404 and self._create:
            self._database_ready = False
        _write_outcome(self._write_path, resp.status_code, resp.text)


class AsyncInfluxClient:
    """Async InfluxQL queries on one pooled :class:`httpx.AsyncClient` per event loop (the
    API's). ``observe(seconds, ok)`` is called after every query (the API's metrics)."""

    def __init__(
        self, settings: InfluxSettings, *, transport: httpx.AsyncBaseTransport | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self.database = database(settings)
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
                **_http_options(self.settings, None),
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
            resp = await self._http().get("/ping")
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, exc) from exc
        if resp.status_code != 204:
            raise InfluxUnavailable(f"InfluxDB /ping answered HTTP {resp.status_code}",
                                    resp.status_code)

    async def query(
        self, q: str, params: Mapping[str, Param] | None = None, *, timeout: float | None = None
    ) -> list[list[Series]]:
        """Run one or more ``;``-separated SELECTs; the series of each statement, in order.

        Times come back as epoch milliseconds; a truncated (``partial``) result is taken as
        it is. ``timeout`` overrides ``influx.timeout``.
        """
        start = time.perf_counter()
        ok = False
        try:
            resp = await self._http().post(
                "/query", data=_query_form(q, self.database, "ms", params),
                timeout=self.settings.timeout if timeout is None else timeout,
            )
            result = parse_answer(resp.status_code, resp.content, partial_ok=True)
            ok = True
            return result
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, exc) from exc
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - start, ok)
