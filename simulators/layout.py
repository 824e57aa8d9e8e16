"""Who is where: stations, zones, gateways and the flats (floor, top floor, gable end).

The layout is drawn once from the seed and then never changes, so the registry written with
``--write-registry`` matches every later run with the same seed and fleet settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from simulators.scenario import FleetConfig

__all__ = ["Layout", "build_layout", "registry_data", "write_registry"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Layout:
    """Index arrays for the fleet; flats are stored station by station (contiguous)."""

    station_ids: tuple[str, ...]
    zones: tuple[str, ...]
    station_zone: IntArray
    gateway_ids: tuple[str, ...]
    station_gateway: IntArray
    station_floors: IntArray
    flat_station: IntArray
    flat_offsets: IntArray  # flats of station i are flat_offsets[i]:flat_offsets[i+1]
    flat_ids: tuple[str, ...]
    flat_floor: IntArray
    flat_top: BoolArray
    flat_gable: BoolArray

    @property
    def n_stations(self) -> int:
        return len(self.station_ids)

    @property
    def n_flats(self) -> int:
        return len(self.flat_ids)

    def station_index(self, station_id: str) -> int:
        try:
            return self.station_ids.index(station_id)
        except ValueError:
            raise KeyError(f"unknown station {station_id!r}") from None

    def zone_of(self, station: int) -> str:
        return self.zones[int(self.station_zone[station])]

    def gateway_stations(self, gateway: int) -> IntArray:
        return np.flatnonzero(self.station_gateway == gateway).astype(np.int64)

    def flats_of(self, station: int) -> IntArray:
        return np.arange(self.flat_offsets[station], self.flat_offsets[station + 1])


def build_layout(cfg: FleetConfig, rng: np.random.Generator) -> Layout:
    """Draw flats per station, floors, and the position of each flat in its building."""
    n = cfg.stations
    ids = tuple(cfg.station_id_format.format(i + 1) for i in range(n))
    # Contiguous blocks: neighbouring stations share a district, as in a real network.
    zone = (np.arange(n) * len(cfg.zones)) // n
    gateway = np.arange(n) // cfg.stations_per_gateway
    gateway_ids = tuple(f"gw-{g + 1:04d}" for g in range(int(gateway[-1]) + 1))
    lo, hi = cfg.flats_per_station
    flats = rng.integers(lo, hi + 1, size=n)
    floors = np.minimum(rng.integers(5, 19, size=n), np.maximum(flats, 1))
    per_floor = np.maximum(1, -(-flats // floors))  # ceil division
    offsets = np.concatenate([[0], np.cumsum(flats)]).astype(np.int64)
    total = int(offsets[-1])
    flat_station = np.repeat(np.arange(n), flats).astype(np.int64)
    k = np.arange(total) - offsets[flat_station]
    pf = per_floor[flat_station]
    floor = k // pf + 1
    pos = k % pf
    top_floor = -(-flats // per_floor)  # the highest floor actually built
    flat_top = floor == top_floor[flat_station]
    flat_gable = (pos == 0) | ((pos == pf - 1) & (pf > 1))
    sids = np.array(ids, dtype=object)[flat_station]
    flat_ids = tuple(
        f"{s}-f{f}-{p + 1}"
        for s, f, p in zip(sids.tolist(), floor.tolist(), pos.tolist(), strict=True)
    )
    return Layout(
        station_ids=ids,
        zones=tuple(cfg.zones),
        station_zone=zone.astype(np.int64),
        gateway_ids=gateway_ids,
        station_gateway=gateway.astype(np.int64),
        station_floors=top_floor.astype(np.int64),
        flat_station=flat_station,
        flat_offsets=offsets,
        flat_ids=flat_ids,
        flat_floor=floor.astype(np.int64),
        flat_top=flat_top,
        flat_gable=flat_gable,
    )


def registry_data(layout: Layout) -> dict[str, Any]:
    """The fleet in :mod:`heatwatch.registry` form, so the collector can tag zones."""
    stations: list[dict[str, Any]] = []
    for i, sid in enumerate(layout.station_ids):
        zone = layout.zone_of(i)
        meters = [
            {
                "id": layout.flat_ids[j],
                "floor": int(layout.flat_floor[j]),
                "top_floor": bool(layout.flat_top[j]),
                "gable_end": bool(layout.flat_gable[j]),
            }
            for j in layout.flats_of(i).tolist()
        ]
        stations.append(
            {"id": sid, "name": f"{zone.title()} HES {i + 1}", "zone": zone, "meters": meters}
        )
    return {"stations": stations}


def write_registry(layout: Layout, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Station registry written by 'heatwatch simulate --write-registry'.\n"
    # libyaml's emitter when present: a city (400,000 meters) takes seconds instead of a minute.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(registry_data(layout), Dumper=dumper, sort_keys=False, width=120)
    path.write_text(header + body, encoding="utf-8")
