"""The mapping of ``heatwatch import``: which CSV column is which wire field, whose station it
is, and what local time the time column is in.

Validated in full before the first row is read, like every heatwatch config: a typo in a field
name must stop the import with the key that is wrong, not quietly store a column under a name no
rule reads. ``examples/xai4heat-mapping.yaml`` is the commented reference; docs/import.md
explains the rules (DST, skipped rows, deduplication).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from heatwatch.registry import ID_PATTERN, UNASSIGNED_ZONE
from heatwatch.settings import ConfigError
from heatwatch.wire import EXTRA_NAME_PATTERN, FIELDS, RESERVED_NAMES, Kind

__all__ = [
    "Column",
    "CsvFormat",
    "ImportMapping",
    "SkipRows",
    "StationSource",
    "TimeColumn",
    "load_mapping",
]

# Telemetry fields a column may feed: ``ts`` comes from the time column, and ``seq`` is left
# out on purpose (an import must store the same points every time it runs).
IMPORT_FIELDS = tuple(n for n in FIELDS[Kind.TELEMETRY] if n not in ("ts", "seq"))
_EXTRA_RE = re.compile(EXTRA_NAME_PATTERN)
_ID_RE = re.compile(ID_PATTERN)


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvFormat(_Block):
    """How the file is written. The first row is the header: columns are named by it."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    # utf-8-sig reads plain UTF-8 too and drops the byte order mark spreadsheet tools write.
    encoding: str = "utf-8-sig"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class StationSource(_Block):
    """Whose readings a row holds: exactly one of ``from_filename``, ``files``, ``column`` or
    ``value``, or none when every column names its own station (``Column.station``)."""

    from_filename: str | None = None  # regex on the file name, with a group named "station"
    files: dict[str, str] | None = None  # file name -> station id
    column: str | None = None  # a column holding the station id
    value: str | None = Field(default=None, pattern=ID_PATTERN)  # one station for every file

    @field_validator("from_filename")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "station" not in compiled.groupindex:
            raise ValueError("the regular expression needs a group named station: "
                             "(?P<station>...)")
        return value

    @field_validator("files")
    @classmethod
    def _ids(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, station in (value or {}).items():
            if not _ID_RE.match(station):
                raise ValueError(f"station id {station!r} for {name!r} must match {ID_PATTERN}")
        return value

    @model_validator(mode="after")
    def _at_most_one(self) -> StationSource:
        chosen = [k for k in ("from_filename", "files", "column", "value")
                  if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"give one of from_filename, files, column, value (got "
                             f"{', '.join(chosen)})")
        return self

    @property
    def given(self) -> bool:
        return any(getattr(self, k) is not None
                   for k in ("from_filename", "files", "column", "value"))


class TimeColumn(_Block):
    """The reading time: its column, format and (for times without an offset) time zone."""

    column: str = Field(min_length=1)
    # "iso" (ISO 8601; an offset in the text wins over timezone), "epoch_s", "epoch_ms", or a
    # strptime format such as "%Y-%m-%d %H:%M:%S" (with %z the text carries its offset).
    format: str = Field(default="iso", min_length=1)
    timezone: str = "UTC"
    # Local times that do not exist (the spring-forward hour): reject the row as
    # bad_timestamp, or shift it forward by the gap (02:30 becomes 03:30 summer time).
    nonexistent: Literal["reject", "shift_forward"] = "reject"
    # Row order, used only to place times of the autumn hour that occurs twice; auto detects
    # it per station from the first two rows that are unambiguous.
    order: Literal["auto", "oldest_first", "newest_first"] = "auto"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "Europe/Belgrade)") from None
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value in ("iso", "epoch_s", "epoch_ms"):
            return value
        if "%" not in value:
            raise ValueError("must be iso, epoch_s, epoch_ms or a strptime format with % codes")
        return value


class Column(_Block):
    """One CSV column: the wire field it feeds and how to bring it to the field's unit:
    ``value * scale + offset`` (e.g. MWh -> kWh: scale 1000)."""

    field: str
    scale: float = 1.0
    offset: float = 0.0
    # Numbers that mean "no value" in this column (a disconnected PT100 logs -39.9): the field
    # is left out of the reading, as if the cell were empty.
    missing: tuple[float, ...] = ()
    extra: bool = False  # store under a name that is not a wire field (an extra field)
    station: str | None = Field(default=None, pattern=ID_PATTERN)  # wide files: one per column

    @model_validator(mode="after")
    def _known_field(self) -> Column:
        if self.field in IMPORT_FIELDS:
            if self.extra:
                raise ValueError(f"{self.field} is a wire field; drop extra: true")
            return self
        if self.field in ("ts", "seq"):
            raise ValueError(f"{self.field} cannot come from a column (ts: use time; seq: an "
                             "import stores no sequence numbers, so a re-import overwrites)")
        if not self.extra:
            raise ValueError(f"{self.field!r} is not a telemetry field (known: "
                             f"{', '.join(IMPORT_FIELDS)}); set extra: true to store it as an "
                             "extra field")
        if not _EXTRA_RE.fullmatch(self.field) or self.field in RESERVED_NAMES:
            raise ValueError(f"{self.field!r} cannot be an extra field name (must match "
                             f"{EXTRA_NAME_PATTERN} and not be one of "
                             f"{', '.join(sorted(RESERVED_NAMES))})")
        return self


class SkipRows(_Block):
    """Rows that are not readings: skipped and counted as such, never rejected."""

    # Every mapped value cell is 0 or empty: a logger row with nothing in it.
    all_zero: bool = False


class ImportMapping(_Block):
    """Everything ``heatwatch import --mapping`` reads; see the module docstring."""

    csv: CsvFormat = CsvFormat()
    station: StationSource = StationSource()
    zone: str = Field(default=UNASSIGNED_ZONE, pattern=ID_PATTERN)
    zones: dict[str, str] = {}  # per-station zone, over ``zone``
    time: TimeColumn
    columns: dict[str, Column] = Field(min_length=1)  # a bare string is the field name
    missing_values: tuple[str, ...] = ("",)  # cell texts meaning "no value", any column
    skip_rows: SkipRows = SkipRows()

    @field_validator("zones")
    @classmethod
    def _zone_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for station, zone in value.items():
            if not _ID_RE.match(zone):
                raise ValueError(f"zone {zone!r} of {station!r} must match {ID_PATTERN}")
        return value

    @field_validator("columns", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"field": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImportMapping:
        cols = self.columns
        if self.time.column in cols:
            raise ValueError(f"column {self.time.column!r} is the time column; it cannot also "
                             "be mapped to a field")
        if self.station.column is not None and self.station.column in cols:
            raise ValueError(f"column {self.station.column!r} names the station; it cannot "
                             "also be mapped to a field")
        per_column = [c.station for c in cols.values()]
        if not self.station.given and None in per_column:
            missing = [n for n, c in cols.items() if c.station is None]
            raise ValueError("no station source: set station (from_filename, files, column or "
                             f"value), or a station on every column (missing on "
                             f"{', '.join(missing)})")
        seen: dict[tuple[str | None, str], str] = {}
        for name, c in cols.items():
            key = (c.station, c.field)
            if key in seen:
                raise ValueError(f"columns {seen[key]!r} and {name!r} both feed {c.field}"
                                 + (f" of station {c.station}" if c.station else ""))
            seen[key] = name
        return self

    def zone_of(self, station: str) -> str:
        return self.zones.get(station, self.zone)

    def station_for_file(self, path: Path) -> str | None:
        """The station a whole file belongs to (``None``: per row or per column); raises
        ``ValueError`` when the file name does not say."""
        s = self.station
        if s.value is not None:
            return s.value
        if s.files is not None:
            if path.name not in s.files:
                raise ValueError(f"{path.name} is not listed in station.files")
            return s.files[path.name]
        if s.from_filename is not None:
            m = re.search(s.from_filename, path.name)
            if m is None or not m.group("station"):
                raise ValueError(f"{path.name} does not match station.from_filename "
                                 f"{s.from_filename!r}")
            return m.group("station")
        return None


def load_mapping(path: Path | str) -> ImportMapping:
    """Read and validate a mapping file; :class:`ConfigError` names the key that is wrong."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read mapping: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: mapping is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the mapping must be a YAML mapping at the top level")
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(x) for x in err["loc"]]
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {'.'.join(loc) or '(top level)'}: {msg}")
        raise ConfigError(f"invalid import mapping {p}:\n" + "\n".join(lines)) from None
