"""Shared setup for the households tests: a small registry, rules with a zone time zone, and
meter readings written to the real InfluxDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import yaml

from alerts.config import RulesConfig
from heatwatch.lineproto import format_line
from heatwatch.registry import Meter, Registry, Station
from households.ledger import day_bounds

TZ = "Europe/Belgrade"
DAY = date(2026, 10, 25)  # the clocks go back: a 25-hour local day
STEP = 300.0

REGISTRY = Registry.of([
    Station(id="S1", zone="north", meters=(
        Meter(id="F1", floor=1, area_m2=60.0),   # 15 °C all day: half
        Meter(id="F2", floor=1),                 # 21 °C: warm, no area
        Meter(id="F3", floor=2, top_floor=True, area_m2=80.0),  # silent: no data
    )),
    Station(id="S2", zone="north", meters=(
        Meter(id="G1", floor=1, area_m2=50.0),   # 11 °C: full
    )),
])
RULES = RulesConfig.model_validate({"defaults": {"heating": {"timezone": TZ}}})


def registry_yaml(path: Path) -> Path:
    data = {"stations": [st.model_dump(exclude_defaults=True) for st in REGISTRY]}
    path.write_text(yaml.safe_dump(data))
    return path


def rules_yaml(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"defaults": {"heating": {"timezone": TZ}}}))
    return path


def meter_lines(station: str, meter: str, start: float, end: float, temp: float,
                zone: str = "north") -> list[str]:
    out, t = [], start
    while t < end:
        out.append(format_line("meter", [("meter", meter), ("station", station), ("zone", zone)],
                               {"indoor_temp": temp}, round(t * 1e9)))
        t += STEP
    return out


def day_lines(day: date = DAY) -> list[str]:
    """The day's readings (and the hour before it) of F1, F2, G1 and an unregistered X9."""
    a, b = day_bounds(day, TZ)
    lines: list[str] = []
    for st, m, temp in (("S1", "F1", 15.0), ("S1", "F2", 21.0), ("S2", "G1", 11.0),
                        ("S1", "X9", 12.0)):
        lines += meter_lines(st, m, a - 3600, b, temp)
    return lines


def write(url: str, db: str, lines: list[str]) -> None:
    resp = httpx.post(f"{url}/write", params={"db": db, "precision": "ns"},
                      content="\n".join(lines).encode(), timeout=30)
    resp.raise_for_status()
