"""Write line protocol to InfluxDB: the 1.x ``/write`` API (httpx) or 2.x/3.x (influxdb-client).

Both transports are synchronous on purpose: the collector acks MQTT messages only after a write
returned, so a write must either succeed or raise. influxdb-client's default batching write API
only logs failed batches from a background thread, which would turn an outage into silent loss;
it is never used here.

Errors are translated at this boundary into two kinds the service can act on:

* :class:`RetryableWriteError` - InfluxDB is unreachable, slow (timeout), overloaded (5xx, 429),
  misconfigured (401/403/404: missing database or bucket, bad token). Trying again later can
  succeed, so the batch goes to the spool.
* :class:`RejectedWriteError` - InfluxDB refused (part of) the data: 400 (unparsable line; 1.x
  also for a field type conflict, "partial write: field type conflict"), 413, 422 (2.x: "some
  or all of the data has been rejected. Data that has not been rejected is ingested") and any
  other 4xx but the configuration ones above (so an answer we do not know cannot block the
  spool head for ever). The same lines will never be accepted; :func:`write_or_quarantine`
  takes the refused lines from the error body where it names them (2.x "unable to parse
  '<line>'", 3.x ``data[].original_line``) and otherwise bisects the batch, so the good lines
  are stored and only the refused ones go to the dead-letter file. Spooling them would block
  the spool forever.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Protocol

import httpx
import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from heatwatch.settings import InfluxSettings

__all__ = [
    "RejectedWriteError",
    "RetryableWriteError",
    "V1Writer",
    "V2Writer",
    "WriteError",
    "Writer",
    "make_writer",
    "write_or_quarantine",
]

log = logging.getLogger(__name__)

# Answers about the set-up (credentials, missing database or bucket, timeouts, rate limits):
# the operator or time fixes them, the data is fine. Every other 4xx refuses the data itself.
_RETRYABLE_4XX = frozenset({401, 403, 404, 408, 429})
_PARSE_ERROR = re.compile(r"unable to parse '(.*?)': ")


def _is_rejection(status: int) -> bool:
    return 400 <= status < 500 and status not in _RETRYABLE_4XX


def refused_lines(body: str) -> tuple[str, ...]:
    """The lines an error body names: 1.x and 2.x ``unable to parse '<line>': <reason>`` (one
    per refused line; 1.x in ``error``, 2.x in ``message``) or 3.x JSON
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


class WriteError(Exception):
    """A write did not store the batch."""


class RetryableWriteError(WriteError):
    """InfluxDB is unavailable or misconfigured right now; the same batch may succeed later."""


class RejectedWriteError(WriteError):
    """InfluxDB refuses (part of) the data itself; resending the same lines cannot help.

    ``lines`` are the refused lines when the answer names them (else empty)."""

    def __init__(self, detail: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.lines = lines


class Writer(Protocol):
    def prepare(self) -> None:
        """Get the destination ready at start-up; raises RetryableWriteError if unreachable."""

    def write(self, lines: list[str]) -> None: ...

    def field_types(self) -> dict[tuple[str, str], str]:
        """Stored field types by (measurement, field) from ``SHOW FIELD KEYS``; raises
        WriteError when they cannot be read (no read permission, InfluxDB down)."""

    def close(self) -> None: ...


def _body(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


class V1Writer:
    """InfluxDB 1.x HTTP API: ``POST /write?db=...&precision=ns`` on one persistent client."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.database = settings.database
        auth: tuple[str, str] | None = None
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = (settings.username, password)
        self._client = httpx.Client(
            base_url=settings.url.rstrip("/"), timeout=settings.timeout, auth=auth
        )
        self._database_ready = False

    def prepare(self) -> None:
        self.ensure_database()

    def ensure_database(self) -> None:
        """``CREATE DATABASE`` is idempotent in 1.x, so it runs before the first write and
        again whenever InfluxDB says the database is missing (it may have been dropped)."""
        query = f'CREATE DATABASE "{self.database}"'
        try:
            resp = self._client.post("/query", params={"q": query})
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"InfluxDB unreachable: {exc!r}") from exc
        if resp.status_code in (401, 403):
            # A write-only user may not create databases; the write itself will tell whether
            # the database exists.
            log.warning("cannot CREATE DATABASE %s (%d); assuming it exists",
                        self.database, resp.status_code)
        elif resp.status_code != 200:
            raise RetryableWriteError(
                f"CREATE DATABASE answered {resp.status_code}: {resp.text[:200]}"
            )
        self._database_ready = True

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        if not self._database_ready:
            self.ensure_database()
        try:
            resp = self._client.post(
                "/write",
                params={"db": self.database, "precision": "ns"},
                content=_body(lines),
            )
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"InfluxDB write failed: {exc!r}") from exc
        if resp.status_code == 204:
            return
        detail = f"InfluxDB /write answered {resp.status_code}: {resp.text[:300]}"
        if _is_rejection(resp.status_code):
            raise RejectedWriteError(detail, refused_lines(resp.text))
        if resp.status_code == 404:
            self._database_ready = False
        raise RetryableWriteError(detail)

    def field_types(self) -> dict[tuple[str, str], str]:
        return _show_field_keys(self._client, {"db": self.database})

    def close(self) -> None:
        self._client.close()


def _show_field_keys(client: httpx.Client, params: dict[str, str]) -> dict[tuple[str, str], str]:
    from collector.fieldtypes import parse_field_keys  # it imports this module

    try:
        resp = client.get("/query", params={**params, "q": "SHOW FIELD KEYS"})
    except httpx.HTTPError as exc:
        raise RetryableWriteError(f"SHOW FIELD KEYS failed: {exc!r}") from exc
    if resp.status_code != 200:
        raise RetryableWriteError(f"SHOW FIELD KEYS answered {resp.status_code}: "
                                  f"{resp.text[:200]}")
    try:
        return parse_field_keys(resp.json())
    except ValueError as exc:
        raise RetryableWriteError(f"SHOW FIELD KEYS: not JSON: {exc}") from exc


class V2Writer:
    """InfluxDB 2.x/3.x through influxdb-client's synchronous write API (``/api/v2/write``)."""

    def __init__(self, settings: InfluxSettings) -> None:
        assert settings.org and settings.bucket and settings.token  # checked by InfluxSettings
        self.org = settings.org
        self.bucket = settings.bucket
        self._url = settings.url.rstrip("/")
        self._timeout = settings.timeout
        self._token = settings.token.get_secret_value()
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token.get_secret_value(),
            org=settings.org,
            timeout=int(settings.timeout * 1000),
            enable_gzip=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def prepare(self) -> None:
        """Nothing to create: 2.x buckets are provisioned with their retention and tokens."""

    def field_types(self) -> dict[tuple[str, str], str]:
        """Through the 1.x compatibility ``/query`` (2.x maps each bucket to a database of the
        same name); needs read permission on the bucket."""
        with httpx.Client(base_url=self._url, timeout=self._timeout,
                          headers={"Authorization": f"Token {self._token}"}) as client:
            return _show_field_keys(client, {"db": self.bucket})

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._api.write(
                bucket=self.bucket,
                org=self.org,
                record=_body(lines),
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str constant
            )
        except ApiException as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) \
                else str(exc.body)
            detail = f"InfluxDB /api/v2/write answered {exc.status}: {body[:300]}"
            if isinstance(exc.status, int) and _is_rejection(exc.status):
                raise RejectedWriteError(detail, refused_lines(body)) from exc
            raise RetryableWriteError(detail) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableWriteError(f"InfluxDB write failed: {exc!r}") from exc

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def make_writer(settings: InfluxSettings) -> Writer:
    if settings.transport == "v2":
        return V2Writer(settings)
    return V1Writer(settings)


def write_or_quarantine(
    write: Callable[[list[str]], None], lines: list[str]
) -> list[tuple[str, str]]:
    """Write ``lines``; on a rejection, bisect until each refused line is isolated.

    Returns the refused lines with InfluxDB's reason (for the dead-letter file); every other
    line is stored. When the answer names the refused lines, those are taken out and the rest
    is written again (2.x already stored it: the second write only overwrites the same points).
    A :class:`RetryableWriteError` at any depth propagates: the caller spools the whole batch,
    and the halves already written become harmless duplicates.
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
