"""Write line protocol to InfluxDB: the 1.x ``/write`` API (httpx) or 2.x/3.x (influxdb-client).

Both transports are synchronous on purpose: the collector acks MQTT messages only after a write
returned, so a write must either succeed or raise. influxdb-client's default batching write API
only logs failed batches from a background thread, which would turn an outage into silent loss;
it is never used here.

Errors are translated at this boundary into two kinds the service can act on:

* :class:`RetryableWriteError` - InfluxDB is unreachable, slow (timeout), overloaded (5xx, 429),
  misconfigured (401/403/404: missing database or bucket, bad token). Trying again later can
  succeed, so the batch goes to the spool.
* :class:`RejectedWriteError` - InfluxDB answered 400 (unparsable line, or a field type conflict:
  1.x returns 400 "partial write: field type conflict" when a field changes type) or 413. The
  same lines will never be accepted; :func:`write_or_quarantine` bisects the batch so that the
  good lines are stored and only the refused ones go to the dead-letter file. Spooling them would
  block the spool forever.
"""

from __future__ import annotations

import logging
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

_REJECTED_STATUSES = frozenset({400, 413})


class WriteError(Exception):
    """A write did not store the batch."""


class RetryableWriteError(WriteError):
    """InfluxDB is unavailable or misconfigured right now; the same batch may succeed later."""


class RejectedWriteError(WriteError):
    """InfluxDB refuses (part of) the data itself; resending the same lines cannot help."""


class Writer(Protocol):
    def prepare(self) -> None:
        """Get the destination ready at start-up; raises RetryableWriteError if unreachable."""

    def write(self, lines: list[str]) -> None: ...

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
        if resp.status_code in _REJECTED_STATUSES:
            raise RejectedWriteError(detail)
        if resp.status_code == 404:
            self._database_ready = False
        raise RetryableWriteError(detail)

    def close(self) -> None:
        self._client.close()


class V2Writer:
    """InfluxDB 2.x/3.x through influxdb-client's synchronous write API (``/api/v2/write``)."""

    def __init__(self, settings: InfluxSettings) -> None:
        assert settings.org and settings.bucket and settings.token  # checked by InfluxSettings
        self.org = settings.org
        self.bucket = settings.bucket
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
            detail = f"InfluxDB /api/v2/write answered {exc.status}: {str(exc.body)[:300]}"
            if exc.status in _REJECTED_STATUSES:
                raise RejectedWriteError(detail) from exc
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
    line is stored. A :class:`RetryableWriteError` at any depth propagates: the caller spools
    the whole batch, and the halves already written become harmless duplicates.
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
            if len(part) == 1:
                refused.append((part[0], str(exc)))
            else:
                mid = len(part) // 2
                stack.append(part[mid:])
                stack.append(part[:mid])
    return refused
