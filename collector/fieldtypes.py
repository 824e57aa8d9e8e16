"""Field type conflicts: keep the reading, drop only the field whose type InfluxDB refuses.

InfluxDB fixes a field's type (float, boolean, ...) per measurement and shard with the first
point written; a later point giving that field another type is refused whole, valid supply and
return temperatures included. The wire format's known fields always have one type (numbers are
floats, flags booleans), so only extra fields can conflict: an extra first sent as a number and
later as a boolean, or the reverse.

Two guards, cheapest first:

* At start the collector asks InfluxDB for the stored types (``SHOW FIELD KEYS``, which 1.6
  answers with each field's type; it needs read permission on the database or bucket) and hands
  them to the decoder. The decoder drops a conflicting extra field from the reading before any
  write, and records the type of every new extra field it lets through, so a conflict costs no
  failed write (:attr:`heatwatch.wire.Decoded.field_conflicts`).
* A conflict the table did not know (another writer, a table that could not be read) still comes
  back from InfluxDB as a refused line naming the field: :func:`resolve_conflicts` strips that
  field, writes the rest of the line, and teaches the table the stored type.

Either way the dropped field is dead-lettered with reason ``field_type_conflict`` and counted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from heatwatch.influx import InfluxClient, RejectedWriteError, Series

__all__ = [
    "CONFLICT_RE",
    "FieldTypes",
    "parse_field_keys",
    "resolve_conflicts",
    "stored_field_types",
    "strip_field",
]

log = logging.getLogger("collector")

# (measurement, field) -> InfluxDB's type name: "float", "boolean", "integer", "string".
FieldTypes = dict[tuple[str, str], str]

CONFLICT_RE = re.compile(
    r'field type conflict: input field \\?"(?P<field>[^"\\]+)\\?" on measurement '
    r'\\?"(?P<measurement>[^"\\]+)\\?" is type (?P<have>\w+), already exists as type '
    r"(?P<want>\w+)"
)


def parse_field_keys(series: list[Series]) -> FieldTypes:
    """The types in the answer to ``SHOW FIELD KEYS`` (one series per measurement, rows of
    ``[fieldKey, fieldType]``). A field stored with two types in different shards keeps the
    first one listed: the decoder then drops the other, and a refusal from InfluxDB corrects
    it."""
    types: FieldTypes = {}
    for s in series:
        for row in s.values:
            if isinstance(row, list) and len(row) == 2:
                types.setdefault((s.name, str(row[0])), str(row[1]))
    return types


def stored_field_types(influx: InfluxClient) -> FieldTypes:
    """The stored types of the collector's database or bucket (2.x: through its DBRP mapping);
    needs read permission. Raises :class:`heatwatch.influx.InfluxUnavailable`."""
    return parse_field_keys(influx.series("SHOW FIELD KEYS"))


def strip_field(line: str, name: str) -> str | None:
    """``line`` without field ``name``; None if it was the only field. Our lines never hold a
    space in the field set or the timestamp (names are ``[A-Za-z0-9_]``, values numbers,
    booleans or ``"online"``/``"offline"``), so splitting from the right is safe even when a
    zone tag carries an escaped space."""
    head, fields, ts = line.rsplit(" ", 2)
    kept = [f for f in fields.split(",") if f.split("=", 1)[0] != name]
    if not kept:
        return None
    return f"{head} {','.join(kept)} {ts}"


def resolve_conflicts(
    write: Callable[[list[str]], None],
    refused: list[tuple[str, str]],
    types: FieldTypes,
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Take the field-type refusals out of ``refused``: write each such line again without its
    conflicting field(s) (one write per line: the decoder's table makes these rare) and learn
    the stored type. Returns the remaining refusals and the dropped fields as ``(original line,
    field, InfluxDB's reason)``. A RetryableWriteError propagates, like
    :func:`heatwatch.influx.write_or_quarantine`'s."""
    others: list[tuple[str, str]] = []
    conflicts: list[tuple[str, str, str]] = []
    for line, detail in refused:
        m = CONFLICT_RE.search(detail)
        if m is None:
            others.append((line, detail))
            continue
        current: str | None = line
        reason = detail
        while m is not None and current is not None:
            types[(m["measurement"], m["field"])] = m["want"]
            conflicts.append((line, m["field"], reason))
            current = strip_field(current, m["field"])
            if current is None:
                break
            try:
                write([current])
                m = None
            except RejectedWriteError as exc:
                reason = str(exc)
                m = CONFLICT_RE.search(reason)
                if m is None:
                    others.append((current, reason))
    return others, conflicts
