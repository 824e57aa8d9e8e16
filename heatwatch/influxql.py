"""InfluxQL over HTTP ``/query``: what the API's async client (``api/influx.py``) and the alert
engine's synchronous history reader (``alerts/history.py``) share.

Both speak the same small protocol: POST ``q``, ``db`` and bound ``params`` to ``/query``; read
``results`` back. InfluxDB 1.x answers natively; 2.x answers for a bucket through its DBRP
mapping with a ``Token`` header. Which database, which credentials and what an answer means are
decided here once, so the two clients cannot drift apart; each keeps its own transport (async
pool vs. one synchronous client) and translates :class:`QueryError` into its own exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from heatwatch.settings import InfluxSettings

__all__ = ["Param", "QueryError", "Series", "credentials", "database", "parse_answer"]

Param = str | int | float | bool


class QueryError(Exception):
    """InfluxDB refused or could not answer a query; ``detail`` says why, for an operator."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


def database(settings: InfluxSettings) -> str:
    """The ``db`` parameter: 2.x maps a bucket to a database of the same name (DBRP)."""
    if settings.transport == "v2" and settings.bucket:
        return settings.bucket
    return settings.database


def credentials(settings: InfluxSettings) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """Request headers and basic auth: a token when one is set (2.x, 3.x, or a 1.x behind a
    token-checking proxy), else a user and password (1.x), else nothing."""
    headers = {"Accept": "application/json"}
    if settings.token is not None:
        headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        return headers, None
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        return headers, httpx.BasicAuth(settings.username, password)
    return headers, None


def parse_answer(
    status: int, content: bytes, *, partial_ok: bool = False
) -> list[list[Series]]:
    """The series of each statement, in order; :class:`QueryError` for any refusal.

    A statement whose result InfluxDB truncated (``partial``, at ``max-row-limit``) is an
    error unless ``partial_ok``: the alert engine's history must not silently miss rows (they
    would read as a quiet fleet); the API's last-value snapshots take what they get.
    """
    if status in (401, 403):
        raise QueryError(
            f"InfluxDB refused the credentials (HTTP {status}); "
            "check influx.username/password or influx.token"
        )
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise QueryError(f"InfluxDB answered HTTP {status} with a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise QueryError("InfluxDB answered with an unexpected JSON document")
    if status >= 400 or "error" in body:
        raise QueryError(f"InfluxDB refused the query (HTTP {status}): {body.get('error')}")
    out: list[list[Series]] = []
    for statement in body.get("results") or []:
        if "error" in statement:
            raise QueryError(f"InfluxDB refused the query: {statement['error']}")
        if statement.get("partial") and not partial_ok:
            raise QueryError("InfluxDB truncated the result (max-row-limit); lower the query limit")
        out.append([
            Series(s.get("name", ""), s.get("columns", []), s.get("values", []),
                   s.get("tags") or {})
            for s in statement.get("series", [])
        ])
    return out
