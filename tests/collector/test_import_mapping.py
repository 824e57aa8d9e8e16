"""The import mapping is validated before the first row: errors name the key and say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.import_mapping import Column, ImportMapping, load_mapping
from heatwatch.settings import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xai4heat-mapping.yaml"
BASE: dict[str, Any] = {
    "station": {"value": "S1"},
    "time": {"column": "time", "format": "iso", "timezone": "Europe/Belgrade"},
    "columns": {"sup": "supply_temp", "ret": {"field": "return_temp"}},
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_example_is_valid() -> None:
    m = load_mapping(EXAMPLE)
    assert m.station_for_file(Path("/x/scada_L4.csv")) == "L4"
    assert m.zone_of("L4") == "nis"
    assert m.time.timezone == "Europe/Belgrade"
    assert m.columns["e"].field == "heat_energy" and m.columns["e"].scale == 1000
    assert m.columns["t_ref"].field == "supply_setpoint"
    assert m.columns["pe"].field == "heat_power"  # the short form
    assert m.skip_rows.all_zero


def test_short_and_long_column_forms_are_the_same(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, BASE))
    assert m.columns["sup"] == Column(field="supply_temp")
    assert m.columns["ret"] == Column(field="return_temp")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"columns": {"sup": "suply_temp"}}, "columns.sup: 'suply_temp' is not a telemetry field"),
        ({"columns": {"sup": {"field": "ts"}}}, "columns.sup: ts cannot come from a column"),
        ({"columns": {"sup": {"field": "seq"}}}, "seq cannot come from a column"),
        ({"columns": {"sup": {"field": "time", "extra": True}}},
         "'time' cannot be an extra field name"),
        ({"columns": {"sup": {"field": "supply_temp", "sclae": 2}}},
         "columns.sup.sclae: Extra inputs are not permitted"),
        ({"columns": {"sup": "supply_temp", "sup2": "supply_temp"}},
         "columns 'sup' and 'sup2' both feed supply_temp"),
        ({"columns": {}}, "columns: Dictionary should have at least 1 item"),
        ({"columns": {"time": "supply_temp"}}, "column 'time' is the time column"),
        ({"time": {"column": "time", "timezone": "Europe/Nis"}},
         "time.timezone: unknown time zone 'Europe/Nis'"),
        ({"time": {"column": "time", "format": "YYYY-MM-DD"}}, "time.format: must be iso"),
        ({"time": {"column": "time", "nonexistent": "guess"}}, "time.nonexistent: Input should be"),
        ({"time": {"column": "time", "order": "random"}}, "time.order: Input should be"),
        ({"station": {"from_filename": "scada_(.*)"}}, "needs a group named station"),
        ({"station": {"from_filename": "scada_(?P<station>"}}, "not a regular expression"),
        ({"station": {"value": "S1", "column": "id"}}, "give one of"),
        ({"station": {"value": "S 1"}}, "station.value: String should match pattern"),
        ({"station": {"files": {"a.csv": "S/1"}}}, "station id 'S/1' for 'a.csv'"),
        ({"station": {}}, "no station source"),
        ({"zone": "north east"}, "zone: String should match pattern"),
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter: String should have at most 1 character"),
        ({"csv": {"encoding": "klingon"}}, "unknown text encoding"),
        ({"skip_rows": {"all_zeros": True}}, "skip_rows.all_zeros: Extra inputs"),
        ({"colums": {}}, "colums: Extra inputs are not permitted"),
    ],
)
def test_mapping_errors_name_the_key(tmp_path: Path, change: dict[str, Any],
                                     expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_mapping(write(tmp_path, {**BASE, **change}))
    assert expected in str(err.value)
    assert str(tmp_path / "map.yaml") in str(err.value)


def test_station_per_column_needs_no_station_source(tmp_path: Path) -> None:
    data = {**BASE, "station": {}, "columns": {
        "a_sup": {"field": "supply_temp", "station": "A"},
        "a_ret": {"field": "return_temp", "station": "A"},
        "b_sup": {"field": "supply_temp", "station": "B"},
    }}
    m = load_mapping(write(tmp_path, data))
    assert m.station_for_file(Path("wide.csv")) is None


def test_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("columns: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(path)
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level"):
        load_mapping(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_mapping(tmp_path / "missing.yaml")


def test_file_station_from_name_list_or_value() -> None:
    m = ImportMapping.model_validate({**BASE, "station": {"files": {"a.csv": "A"}}})
    assert m.station_for_file(Path("/d/a.csv")) == "A"
    with pytest.raises(ValueError, match="not listed"):
        m.station_for_file(Path("b.csv"))
    m = ImportMapping.model_validate(
        {**BASE, "station": {"from_filename": r"^st_(?P<station>\w+)\.csv$"}})
    assert m.station_for_file(Path("st_K9.csv")) == "K9"
    with pytest.raises(ValueError, match="does not match"):
        m.station_for_file(Path("other.csv"))
