"""The station registry: which stations exist, which zone each serves, and their flats.

Zones drive routing (a crew per zone) and the under-temperature rules, so every reading is
tagged with its station's zone at ingestion. A station missing from the registry is still
stored, under zone ``unassigned``, and reported, because losing its data would be worse.

A city's registry (20,000 stations, 420,000 flats, ~31 MB of YAML) is loaded by every service,
so its memory is paid three times. Loading it as one YAML document cost 1.5 GB RSS per service
(PyYAML's whole node tree and data, then a pydantic model per flat; CPython does not hand the
fragmented heap back). So:

* YAML is read one station at a time (:func:`_read_yaml`): the parser's events are composed
  into one station's nodes, constructed, validated and dropped; the peak is one station.
* A flat is a slotted pydantic dataclass (80 bytes, against 488 for a ``BaseModel``, measured
  with tracemalloc in bench/registry_memory.py); a station stays a ``BaseModel``.
* ``heatwatch registry convert`` writes the compact form (``.jsonl``, one station per line,
  validated by pydantic's JSON parser without PyYAML): the same registry starts in a second
  instead of the YAML stream's quarter of a minute. Figures: docs/scaling.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Annotated, Any, Protocol, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic.dataclasses import dataclass
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from heatwatch.settings import ConfigError

__all__ = [
    "COMPACT_SUFFIX",
    "UNASSIGNED_ZONE",
    "Meter",
    "Registry",
    "Station",
    "load_registry",
    "write_compact",
]

UNASSIGNED_ZONE = "unassigned"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)
COMPACT_SUFFIX = ".jsonl"
COMPACT_FORMAT = "heatwatch-registry"
COMPACT_VERSION = 1
COMPACT_MAGIC = b'{"format": "heatwatch-registry"'  # how write_compact's header line starts
MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class Meter:
    """One flat's indoor sensor or heat meter. Position matters: top floor and gable end run
    colder, and crews want to know which flats those are.

    A slotted dataclass, not a ``BaseModel``: a city has 420,000 of them (see the module
    docstring); pydantic validates it the same way."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    floor: int | None = None
    top_floor: bool = False
    gable_end: bool = False
    area_m2: Annotated[float | None, Field(gt=0)] = None


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
        # The keys are fresh copies of the ids, allocated one after the other: a streamed YAML
        # leaves the ids scattered over the heap, and the cache misses comparing them made
        # get() 1.8x slower for a city (380 against 200 ns, bench/registry_memory.py).
        self._by_id = {st.id.encode().decode(): st for st in self.stations}

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

    def meter_count(self) -> int:
        return sum(len(st.meters) for st in self.stations)

    def __iter__(self) -> Iterator[Station]:  # type: ignore[override]
        return iter(self.stations)

    def __len__(self) -> int:
        return len(self.stations)

    @classmethod
    def of(cls, stations: Iterable[Station]) -> Registry:
        return cls(stations=tuple(stations))


def load_registry(path: Path | str | None) -> Registry:
    """Read a registry file; no path means an empty registry.

    The compact form written by ``heatwatch registry convert`` is recognised by its header line
    (whatever the file's name: docker-compose mounts any registry as ``stations.yaml``) or a
    ``.jsonl`` name; anything else is YAML (``stations: [...]``). Every problem raises
    :class:`ConfigError` naming the file, and for invalid entries the key path, the station and
    meter ids and the line.
    """
    if path is None:
        return Registry()
    p = Path(path)
    try:
        with p.open("rb") as fh:
            compact = fh.read(len(COMPACT_MAGIC)) == COMPACT_MAGIC or p.suffix == COMPACT_SUFFIX
            fh.seek(0)
            return _read_compact(fh, p) if compact else _read_yaml(fh, p)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read station registry: {exc.strerror}") from exc


def write_compact(registry: Registry, out: IO[str]) -> None:
    """The compact form: a header line with the counts (a truncated file is refused), then one
    station per line, defaults left out."""
    header = {"format": COMPACT_FORMAT, "version": COMPACT_VERSION,
              "stations": len(registry), "meters": registry.meter_count()}
    out.write(json.dumps(header) + "\n")
    for st in registry:
        out.write(st.model_dump_json(exclude_defaults=True) + "\n")


class _Errors:
    """Validation errors of a whole file, one line each: ``stations.3.meters.5.id: <message>
    (station 'st-4', meter 'st-4-f1-1', line 120)``. All are counted; the first
    ``MAX_ERRORS_SHOWN`` are shown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self.count = 0
        self.seen: dict[str, int] = {}  # station id -> index, for duplicates

    def add(self, loc: str, msg: str, where: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_ERRORS_SHOWN:
            self.lines.append(f"  {loc}: {msg}{f' ({where})' if where else ''}")

    def add_validation(self, index: int, exc: ValidationError, data: Any, node: Node | None,
                       line: int) -> None:
        """``data``: the station's raw input, to name it and its meter; ``node``: its YAML
        node, to find the line of the offending value, else ``line``."""
        for e in exc.errors():
            loc = e["loc"]
            where = _describe(data, loc)
            at = f"line {_line_of(node, loc) if node is not None else line}"
            where = f"{where}, {at}" if where else at
            path = ".".join(str(x) for x in ("stations", index, *loc))
            self.add(path, e["msg"], where)

    def check_unique(self, index: int, data: Any, line: int) -> None:
        """Ids are checked on the raw input, so an invalid station still claims its id."""
        sid = data.get("id") if isinstance(data, dict) else None
        if not isinstance(sid, str):
            return
        first = self.seen.setdefault(sid, index)
        if first != index:
            self.add(f"stations.{index}.id",
                     f"station id {sid!r} appears twice (first at stations.{first})",
                     f"line {line}")

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.lines)
        tail = [f"  ... and {more} more"] if more > 0 else []
        count = f"{self.count} error{'s' if self.count > 1 else ''}"
        raise ConfigError(f"invalid station registry {self.path} ({count}):\n"
                          + "\n".join(self.lines + tail))


def _describe(data: Any, loc: Sequence[int | str]) -> str:
    """``station 'x', meter 'y'`` for an error at ``loc`` inside station input ``data``."""
    names: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        names.append(f"station {data['id']!r}")
    if len(loc) >= 2 and loc[0] == "meters" and isinstance(loc[1], int) and isinstance(data, dict):
        meters = data.get("meters")
        if isinstance(meters, list) and loc[1] < len(meters):
            meter = meters[loc[1]]
            if isinstance(meter, dict) and isinstance(meter.get("id"), str):
                names.append(f"meter {meter['id']!r}")
    return ", ".join(names)


def _finish(top: dict[str, Any], errors: _Errors) -> Registry:
    errors.raise_if_any()
    try:
        return Registry.model_validate(top)
    except ValidationError as exc:  # top-level problems: unknown keys, ``stations`` not a list
        for e in exc.errors():
            errors.add(".".join(str(x) for x in e["loc"]) or "(top level)", e["msg"], "")
        errors.raise_if_any()
        raise  # unreachable: at least one error was added


# --- compact form --------------------------------------------------------------------------


def _read_compact(fh: IO[bytes], path: Path) -> Registry:
    errors = _Errors(path)
    try:
        header = json.loads(fh.readline() or b"null")
    except ValueError:
        header = None
    if not (isinstance(header, dict) and header.get("format") == COMPACT_FORMAT):
        raise ConfigError(f"{path}: not a compact station registry (no header line; write one "
                          "with 'heatwatch registry convert')")
    if header.get("version") != COMPACT_VERSION:
        raise ConfigError(f"{path}: compact registry version {header.get('version')!r}, "
                          f"this heatwatch reads version {COMPACT_VERSION}")
    stations: list[Station] = []
    index = 0
    for line, raw in enumerate(fh, start=2):
        if not raw.strip():
            continue
        index += 1
        try:
            station = Station.model_validate_json(raw)
        except ValidationError as exc:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            errors.add_validation(index - 1, exc, data, None, line)
            errors.check_unique(index - 1, data, line)
            continue
        errors.check_unique(index - 1, {"id": station.id}, line)
        stations.append(station)
    meters = sum(len(st.meters) for st in stations)
    want = (header.get("stations"), header.get("meters"))
    if not errors.count and want != (len(stations), meters):
        raise ConfigError(f"{path}: header promises {want[0]} stations and {want[1]} meters, the "
                          f"file has {len(stations)} and {meters} (truncated? convert it again)")
    return _finish({"stations": stations}, errors)


# --- YAML, one station at a time -------------------------------------------------------------


class _Events(Protocol):
    """What :func:`_read_yaml` needs from a PyYAML loader: events, and composing and
    constructing one node at a time."""

    def check_event(self, *choices: type[Any]) -> bool: ...
    def get_event(self) -> Any: ...
    def peek_event(self) -> Any: ...
    def compose_node(self, parent: Node | None, index: Any) -> Node: ...
    def construct_document(self, node: Node) -> Any: ...


try:
    from yaml._yaml import CParser

    class _CStationLoader(Composer, CParser, SafeConstructor, Resolver):
        """libyaml's parser (four times faster than PyYAML's) with PyYAML's own composer,
        since libyaml's composes the whole document at once. Same safe subset as
        ``CSafeLoader``."""

        def __init__(self, stream: IO[bytes]) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _LOADER: type[_CStationLoader] | type[yaml.SafeLoader] = _CStationLoader
except ImportError:  # PyYAML built without libyaml: the pure-Python safe loader
    _LOADER = yaml.SafeLoader


def _read_yaml(fh: IO[bytes], path: Path, loader_class: type[Any] | None = None) -> Registry:
    loader = cast(_Events, (loader_class or _LOADER)(fh))
    errors = _Errors(path)
    stations: list[Station]
    top: dict[str, Any] = {}
    try:
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            return Registry()  # empty file, or comments only
        loader.get_event()  # document start
        if loader.check_event(MappingStartEvent):
            loader.get_event()
            while not loader.check_event(MappingEndEvent):
                key_node = loader.compose_node(None, None)
                key = loader.construct_document(key_node)
                if not isinstance(key, str):
                    raise ConfigError(f"{path}: line {key_node.start_mark.line + 1}: a registry "
                                      f"key must be a string, not {key!r}")
                if key == "stations" and _plain_sequence(loader):
                    loader.get_event()
                    top[key] = stations = []
                    _stream_stations(loader, stations, errors)
                    loader.get_event()  # sequence end
                else:
                    top[key] = loader.construct_document(loader.compose_node(None, None))
            loader.get_event()  # mapping end
        else:
            start = loader.compose_node(None, None)
            if loader.construct_document(start) is not None:  # null: an empty document
                raise ConfigError(f"{path}: line {start.start_mark.line + 1}: a station registry "
                                  "is a mapping with a 'stations' list")
        loader.get_event()  # document end
        if not loader.check_event(StreamEndEvent):
            raise ConfigError(f"{path}: a station registry is one YAML document, found more")
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: station registry is not valid YAML: {exc}") from exc
    return _finish(top, errors)


def _plain_sequence(loader: _Events) -> bool:
    """Whether the next node is a sequence to stream: one with a tag (which the safe loader
    refuses unless it is ``!!seq``) or an anchor (which a later alias needs) is composed and
    constructed as a whole instead, as PyYAML would."""
    if not loader.check_event(SequenceStartEvent):
        return False
    event = loader.peek_event()
    return event.anchor is None and event.tag in (None, "!", Resolver.DEFAULT_SEQUENCE_TAG)


def _stream_stations(loader: _Events, stations: list[Station], errors: _Errors) -> None:
    """Compose, construct and validate one sequence item at a time, until the sequence ends."""
    index = 0
    while not loader.check_event(SequenceEndEvent):
        node = loader.compose_node(None, None)
        data = loader.construct_document(node)
        try:
            stations.append(Station.model_validate(data))
        except ValidationError as exc:
            errors.add_validation(index, exc, data, node, 0)
        errors.check_unique(index, data, _line_of(node, ("id",)))
        index += 1


def _line_of(node: Node, loc: Sequence[int | str]) -> int:
    """The 1-based line of the value at ``loc`` under ``node``, or of the deepest node found
    on the way (a missing key's mapping)."""
    for part in loc:
        child: Node | None = None
        if isinstance(node, MappingNode):
            child = next((v for k, v in node.value
                          if isinstance(k, ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
