"""The station registry: YAML read one station at a time, the compact form and its converter,
and validation errors that name the key path, the station, the meter and the line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import heatwatch.registry as registry_module
from heatwatch.cli import main as heatwatch_main
from heatwatch.registry import Meter, Registry, Station, load_registry, write_compact
from heatwatch.settings import ConfigError

LOADERS = [pytest.param(yaml.SafeLoader, id="pure-python")]
if getattr(yaml, "__with_libyaml__", False):
    LOADERS.append(pytest.param(registry_module._LOADER, id="libyaml"))


def fleet(stations: int = 50, flats: int = 20) -> dict[str, Any]:
    """A registry of ``stations * flats`` meters with every optional field used somewhere."""
    return {"stations": [
        {"id": f"st-{i:04d}", "name": f"HES {i}", "zone": f"z{i % 4}",
         "design_supply_temp": 90.0, "design_flow": 12.5 if i % 2 else None,
         "report_interval_s": 10 + i % 3,
         "meters": [{"id": f"st-{i:04d}-f{j}", "floor": j // 4, "top_floor": j >= flats - 4,
                     "gable_end": j % 4 in (0, 3), **({"area_m2": 54.5} if j % 5 == 0 else {})}
                    for j in range(flats)]}
        for i in range(stations)
    ]}


def write(tmp_path: Path, text: str, name: str = "registry.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_yaml(path: Path, loader: type[Any]) -> Registry:
    with path.open("rb") as fh:
        return registry_module._read_yaml(fh, path, loader)


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    return str(info.value)


@pytest.mark.parametrize("loader", LOADERS)
def test_streamed_yaml_equals_the_whole_document(tmp_path: Path, loader: type[Any]) -> None:
    data = fleet()
    path = write(tmp_path, yaml.safe_dump(data, sort_keys=False))
    reg = read_yaml(path, loader)
    assert reg == Registry.model_validate(data)
    assert len(reg) == 50 and reg.meter_count() == 1000
    st = reg.get("st-0007")
    assert st is not None and st.zone == "z3" and st.design_flow == 12.5
    assert st.meters[0] == Meter(id="st-0007-f0", floor=0, gable_end=True, area_m2=54.5)
    assert reg.zone_of("st-0007") == "z3" and reg.zone_of("nope") == "unassigned"
    assert [s.id for s in reg][:2] == ["st-0000", "st-0001"]


@pytest.mark.parametrize("loader", LOADERS)
def test_yaml_features_still_work(tmp_path: Path, loader: type[Any]) -> None:
    """Flow style, anchors shared across stations, merge keys, comments, other key order."""
    path = write(tmp_path, """\
# comment
stations:
  - &base {id: a, zone: north, report_interval_s: 30, meters: [{id: a1, floor: 2}]}
  - <<: *base
    id: b
    meters: &flats
      - id: b1
        top_floor: yes
  - {id: c, meters: *flats}
""")
    reg = read_yaml(path, loader)
    assert [(s.id, s.zone, s.report_interval_s) for s in reg] == [
        ("a", "north", 30.0), ("b", "north", 30.0), ("c", "unassigned", 10.0)]
    assert reg.get("c") == Station(id="c", meters=(Meter(id="b1", top_floor=True),))


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n", "stations: []\n"])
def test_empty_registries(tmp_path: Path, text: str) -> None:
    assert len(load_registry(write(tmp_path, text))) == 0
    assert len(load_registry(None)) == 0


@pytest.mark.parametrize("loader", LOADERS)
def test_errors_name_path_station_meter_and_line(tmp_path: Path, loader: type[Any]) -> None:
    path = write(tmp_path, """\
stations:
  - id: a
    meters:
      - {id: a1}
      - id: a 2
        floor: 3
  - id: b
    zone: no zones with spaces
    meters:
      - id: b1
        colour: red
      - id: b2
        area_m2: -4
  - zone: north
  - id: a
""")
    with pytest.raises(ConfigError) as info:
        read_yaml(path, loader)
    lines = str(info.value).splitlines()
    assert lines[0] == f"invalid station registry {path} (6 errors):"
    assert lines[1:] == [
        "  stations.0.meters.1.id: String should match pattern '^[A-Za-z0-9_-]{1,64}$' "
        "(station 'a', meter 'a 2', line 5)",
        "  stations.1.zone: String should match pattern '^[A-Za-z0-9_-]{1,64}$' "
        "(station 'b', line 8)",
        "  stations.1.meters.0.colour: Unexpected keyword argument (station 'b', meter 'b1', "
        "line 11)",
        "  stations.1.meters.1.area_m2: Input should be greater than 0 "
        "(station 'b', meter 'b2', line 13)",
        "  stations.2.id: Field required (line 14)",
        "  stations.3.id: station id 'a' appears twice (first at stations.0) (line 15)",
    ]


def test_many_errors_are_counted_and_the_first_shown(tmp_path: Path) -> None:
    data = fleet(stations=3, flats=15)
    for st in data["stations"]:
        for m in st["meters"]:
            m["floor"] = "ground"
    text = error_of(write(tmp_path, yaml.safe_dump(data)))
    assert "(45 errors)" in text
    assert text.count("Input should be a valid integer") == registry_module.MAX_ERRORS_SHOWN
    assert text.endswith("... and 25 more")


@pytest.mark.parametrize(("text", "message"), [
    ("stations: []\nowner: ops\n", "owner: Extra inputs are not permitted"),
    ("stations:\n", "stations: Input should be a valid tuple"),
    ("stations: {id: a}\n", "stations: Input should be a valid tuple"),
    ("- id: a\n", "line 1: a station registry is a mapping with a 'stations' list"),
    ("stations: []\n---\nstations: []\n", "a station registry is one YAML document"),
    ("stations:\n  - id: a\n  - id: [b\n", "not valid YAML"),
    ("? [a]\n: 1\n", "line 1: a registry key must be a string"),
])
def test_top_level_errors(tmp_path: Path, text: str, message: str) -> None:
    assert message in error_of(write(tmp_path, text))


def test_unreadable_file(tmp_path: Path) -> None:
    assert "cannot read station registry" in error_of(tmp_path / "missing.yaml")


def test_compact_form_round_trip(tmp_path: Path) -> None:
    data = fleet()
    reg = load_registry(write(tmp_path, yaml.safe_dump(data)))
    path = tmp_path / "registry.jsonl"
    with path.open("w") as out:
        write_compact(reg, out)
    header = json.loads(path.read_text().splitlines()[0])
    assert header == {"format": "heatwatch-registry", "version": 1, "stations": 50,
                      "meters": 1000}
    assert load_registry(path) == reg == Registry.model_validate(data)


def compact(tmp_path: Path, lines: list[str], **header: Any) -> Path:
    head = {"format": "heatwatch-registry", "version": 1, "stations": len(lines),
            "meters": sum(s.count('"id"') - 1 for s in lines), **header}
    return write(tmp_path, "\n".join([json.dumps(head), *lines]) + "\n", "registry.jsonl")


def test_compact_errors_name_station_meter_and_line(tmp_path: Path) -> None:
    path = compact(tmp_path, [
        '{"id": "a", "meters": [{"id": "a1"}, {"id": "a2", "floor": "x"}]}',
        "",  # a blank line is skipped
        '{"id": "b", "zone": 7}',
        '{"id": "c", oops}',
        '{"id": "a"}',
    ], stations=4)
    assert error_of(path).splitlines()[1:] == [
        "  stations.0.meters.1.floor: Input should be a valid integer, unable to parse string "
        "as an integer (station 'a', meter 'a2', line 2)",
        "  stations.1.zone: Input should be a valid string (station 'b', line 4)",
        "  stations.2: Invalid JSON: key must be a string at line 1 column 13 (line 5)",
        "  stations.3.id: station id 'a' appears twice (first at stations.0) (line 6)",
    ]


def test_compact_refuses_other_files_versions_and_truncation(tmp_path: Path) -> None:
    good = '{"id": "a", "meters": [{"id": "a1"}]}'
    assert "not a compact station registry" in error_of(
        write(tmp_path, good + "\n", "registry.jsonl"))
    assert "compact registry version 2" in error_of(compact(tmp_path, [good], version=2))
    assert re.search(r"header promises 2 stations and 1 meters, the file has 1 and 1 "
                     r"\(truncated", error_of(compact(tmp_path, [good], stations=2)))


def test_convert_and_check_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, yaml.safe_dump(fleet(stations=10, flats=5)))
    dest = tmp_path / "out" / "city.jsonl"
    dest.parent.mkdir()
    assert heatwatch_main(["registry", "convert", str(source), str(dest)]) == 0
    assert "10 stations, 50 meters, 4 zones" in capsys.readouterr().out
    assert load_registry(dest) == load_registry(source)
    assert [p.name for p in dest.parent.iterdir()] == ["city.jsonl"]  # no temporary left
    assert heatwatch_main(["registry", "check", str(dest)]) == 0
    assert f"{dest}: valid; 10 stations, 50 meters, 4 zones" in capsys.readouterr().out


def test_convert_refuses_an_invalid_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    bad = write(tmp_path, "stations:\n  - id: a b\n")
    dest = tmp_path / "city.jsonl"
    assert heatwatch_main(["registry", "convert", str(bad), str(dest)]) == 2
    assert "stations.0.id: String should match pattern" in capsys.readouterr().err
    assert not dest.exists()
    assert heatwatch_main(["registry", "check", str(bad)]) == 2


def test_compact_form_is_recognised_whatever_its_name(tmp_path: Path) -> None:
    """docker-compose mounts whichever registry is configured as ``stations.yaml``."""
    source = write(tmp_path, yaml.safe_dump(fleet(stations=3, flats=2)))
    dest = tmp_path / "stations.yaml"
    assert heatwatch_main(["registry", "convert", str(source), str(dest)]) == 0
    assert dest.read_text().startswith('{"format": "heatwatch-registry"')
    assert load_registry(dest) == load_registry(source)


def test_an_anchored_or_tagged_station_list_is_read_whole(tmp_path: Path) -> None:
    """Not streamed (a later alias may need the anchor), same result and errors still found."""
    assert [s.id for s in load_registry(write(tmp_path, "stations: &all\n  - id: a\n"))] == ["a"]
    assert [s.id for s in load_registry(write(tmp_path, "stations: !!seq [{id: b}]\n"))] == ["b"]
    text = error_of(write(tmp_path, "stations: &all\n  - id: a\n  - id: a b\n"))
    assert "stations.1.id: String should match pattern" in text
