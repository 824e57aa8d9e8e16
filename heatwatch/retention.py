"""Retention and hourly downsampling on InfluxDB 1.x (continuous queries), from our own set-up.

Raw readings are kept ``raw_duration`` (90 days by default): a city's 10-second telemetry would
otherwise grow without bound. Refunds, the annual report and year-on-year charts need hours, so
continuous queries copy hourly aggregates of every numeric field into a second retention policy
kept ``hourly_duration`` (5 years by default). docs/deployment.md ("Retention and downsampling")
has the 2.x equivalent (a second bucket and a task, deploy/influxdb/downsampling.sh).

Why the raw policy is the existing ``autogen`` altered, not a new default policy: queries that
name no policy read the default one, so switching the default would hide every reading already
stored (and every query written before). Altering the duration keeps all of them working.

The hourly point of a field ``f`` holds ``f`` (mean), ``f_min``, ``f_max`` and ``f_last``, so a
long-range chart can show any of the API's aggregates without the raw data. Tags are kept
(``GROUP BY *``). ``RESAMPLE FOR`` recomputes the previous hours too, so readings that arrive
late (a station's spool, the collector's) still land in their hour; older backlogs need
:func:`backfill` (``heatwatch retention backfill``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from heatwatch.influx import Series
from heatwatch.wire import FIELDS, Kind
from heatwatch.wirefields import NUMBER

__all__ = [
    "HOURLY_POLICY",
    "MEASUREMENTS",
    "RetentionSettings",
    "apply_retention",
    "backfill",
    "continuous_queries",
    "hourly_select",
]

log = logging.getLogger(__name__)

HOURLY_POLICY = "hourly"  # the dashboards and the API read "hourly"."telemetry" by this name
AGGREGATES = (("mean", ""), ("min", "_min"), ("max", "_max"), ("last", "_last"))
# Measurement -> its numeric fields (mean() of a boolean or string is an InfluxQL error).
MEASUREMENTS: dict[str, tuple[str, ...]] = {
    "telemetry": tuple(n for n, s in FIELDS[Kind.TELEMETRY].items() if s.check == NUMBER),
    "meter": tuple(n for n, s in FIELDS[Kind.METER].items() if s.check == NUMBER),
}
_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_DURATION = r"^(INF|[1-9][0-9]{0,5}[hdw])$"

Query = Callable[[str], Any]  # runs one InfluxQL statement (InfluxClient.series)


class RetentionSettings(BaseModel):
    """How long raw and hourly data are kept; validated before any statement is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    raw_policy: str = Field(default="autogen", pattern=_NAME)
    raw_duration: str = Field(default="90d", pattern=_DURATION)
    hourly_policy: str = Field(default=HOURLY_POLICY, pattern=_NAME)
    hourly_duration: str = Field(default="260w", pattern=_DURATION)
    # Every run recomputes this many hours back, for readings that arrive late.
    resample_for: str = Field(default="2h", pattern=r"^[1-9][0-9]{0,3}h$")
    # How often the CQ runs; 1h is the natural choice, tests use seconds.
    resample_every: str = Field(default="1h", pattern=r"^[1-9][0-9]{0,4}[smh]$")


def hourly_select(db: str, measurement: str, settings: RetentionSettings) -> str:
    """``SELECT ... INTO <db>.<hourly>.<m> FROM <db>.<raw>.<m> GROUP BY time(1h), *``."""
    cols = ", ".join(
        f'{agg}("{f}") AS "{f}{suffix}"' for f in MEASUREMENTS[measurement]
        for agg, suffix in AGGREGATES
    )
    return (
        f'SELECT {cols} INTO "{db}"."{settings.hourly_policy}"."{measurement}" '
        f'FROM "{db}"."{settings.raw_policy}"."{measurement}"'
    )


def continuous_queries(db: str, settings: RetentionSettings) -> dict[str, str]:
    """CQ name -> its ``CREATE CONTINUOUS QUERY`` statement."""
    out = {}
    for measurement in MEASUREMENTS:
        name = f"heatwatch_{measurement}_hourly"
        out[name] = (
            f'CREATE CONTINUOUS QUERY "{name}" ON "{db}" '
            f"RESAMPLE EVERY {settings.resample_every} FOR {settings.resample_for} BEGIN "
            f"{hourly_select(db, measurement, settings)} GROUP BY time(1h), * END"
        )
    return out


def _rows(answer: list[Series]) -> list[list[Any]]:
    """Values of every series of a ``SHOW`` answer."""
    return [row for s in answer for row in s.values]


def apply_retention(query: Callable[[str], list[Series]], db: str, settings: RetentionSettings
                    ) -> list[str]:
    """Create or alter both policies and (re)create the CQs; idempotent. Returns the
    statements sent. ``query(q)`` runs one InfluxQL statement and returns its series
    (:meth:`heatwatch.influx.InfluxClient.series`)."""
    if not re.match(_NAME, db):
        raise ValueError(f"database name {db!r} is not a plain identifier")
    if not settings.enabled:
        return []
    sent: list[str] = []

    def run(statement: str) -> list[Series]:
        sent.append(statement)
        return query(statement)

    policies = {row[0] for row in _rows(run(f'SHOW RETENTION POLICIES ON "{db}"'))}
    for name, duration, default in (
        (settings.raw_policy, settings.raw_duration, True),
        (settings.hourly_policy, settings.hourly_duration, False),
    ):
        verb = "ALTER" if name in policies else "CREATE"
        replication = "" if verb == "ALTER" else " REPLICATION 1"
        run(f'{verb} RETENTION POLICY "{name}" ON "{db}" DURATION {duration}{replication}'
            + (" DEFAULT" if default else ""))
    existing = {row[0] for s in run("SHOW CONTINUOUS QUERIES") if s.name == db
                for row in s.values}
    # 1.x has no CREATE OR REPLACE: a changed definition (new field, new duration) means
    # dropping the old CQ first. Nothing is lost: the next run recomputes resample_for.
    for name, statement in continuous_queries(db, settings).items():
        if name in existing:
            run(f'DROP CONTINUOUS QUERY "{name}" ON "{db}"')
        run(statement)
    log.info("retention on %s: raw %s in %s, hourly %s in %s, %d continuous queries", db,
             settings.raw_duration, settings.raw_policy, settings.hourly_duration,
             settings.hourly_policy, len(MEASUREMENTS))
    return sent


def backfill(query: Query, db: str, settings: RetentionSettings, start: datetime,
             end: datetime, measurements: Sequence[str] = tuple(MEASUREMENTS)) -> None:
    """Compute the hourly points of ``[start, end)`` now (history imported, a long backlog).

    Runs what the CQ runs, over the given range; re-running it overwrites the same points.
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("backfill needs an aware start before an aware end")
    t0, t1 = (f"'{t.isoformat()}'" for t in (start, end))
    for measurement in measurements:
        query(f"{hourly_select(db, measurement, settings)} "
              f"WHERE time >= {t0} AND time < {t1} GROUP BY time(1h), *")
