"""The station registry: which stations exist, which zone each serves, and their flats.

Zones drive routing (a crew per zone) and the under-temperature rules, so every reading is
tagged with its station's zone at ingestion. A station missing from the registry is still
stored, under zone ``unassigned``, and reported, because losing its data would be worse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from heatwatch.settings import ConfigError

__all__ = ["UNASSIGNED_ZONE", "Meter", "Registry", "Station", "load_registry"]

UNASSIGNED_ZONE = "unassigned"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)


class Meter(BaseModel):
    """One flat's indoor sensor or heat meter. Position matters: top floor and gable end run
    colder, and crews want to know which flats those are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    floor: int | None = None
    top_floor: bool = False
    gable_end: bool = False
    area_m2: float | None = Field(None, gt=0)


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""
    zone: str = Field(UNASSIGNED_ZONE, pattern=ID_PATTERN)
    design_supply_temp: float | None = None
    design_return_temp: float | None = None
    design_flow: float | None = Field(None, gt=0)
    report_interval_s: float = Field(10.0, gt=0)
    meters: tuple[Meter, ...] = ()


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stations: tuple[Station, ...] = ()
    _by_id: dict[str, Station] = PrivateAttr(default_factory=dict)

    @field_validator("stations")
    @classmethod
    def _unique(cls, stations: tuple[Station, ...]) -> tuple[Station, ...]:
        seen: set[str] = set()
        for st in stations:
            if st.id in seen:
                raise ValueError(f"station id {st.id!r} appears twice")
            seen.add(st.id)
        return stations

    def model_post_init(self, _context: object) -> None:
        self._by_id = {st.id: st for st in self.stations}

    def get(self, station_id: str) -> Station | None:
        # Called for every reading: read the index from pydantic's private-attribute dict
        # directly, since ``self._by_id`` goes through BaseModel.__getattr__ (measured: 13 % of
        # the collector's worker thread on array payloads).
        private = self.__pydantic_private__
        assert private is not None
        by_id: dict[str, Station] = private["_by_id"]
        return by_id.get(station_id)

    def zone_of(self, station_id: str) -> str:
        station = self.get(station_id)
        return station.zone if station else UNASSIGNED_ZONE

    def zones(self) -> list[str]:
        return sorted({st.zone for st in self.stations})

    def __iter__(self) -> Iterator[Station]:  # type: ignore[override]
        return iter(self.stations)

    def __len__(self) -> int:
        return len(self.stations)

    @classmethod
    def of(cls, stations: Iterable[Station]) -> Registry:
        return cls(stations=tuple(stations))


# A city's registry (20,000 stations, 400,000 flats) is ~30 MB of YAML: the pure-Python loader
# takes minutes to read it, the libyaml one (same safe subset) about four times less. Services
# would otherwise sit unconnected for minutes at every start while the broker queues.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_registry(path: Path | str | None) -> Registry:
    """Read a registry YAML file (``stations: [...]``); no path means an empty registry."""
    if path is None:
        return Registry()
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read station registry: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: station registry is not valid YAML: {exc}") from exc
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(f"invalid station registry {p}:\n" + "\n".join(lines)) from exc
