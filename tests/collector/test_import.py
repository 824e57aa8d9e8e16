"""``heatwatch import`` end to end on synthetic CSVs the tests write, into the real InfluxDB
(v1) and a recording HTTP server (v2): the live decoder's verdicts, the dead-letter file,
skipped rows, DST, re-import without duplicates, station per file, per column and per row."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from influx2_double import Influx2Double

from collector.config import CollectorSettings, DeadLetterSettings
from collector.import_mapping import ImportMapping, load_mapping
from collector.importer import ImportFailed, import_files
from heatwatch.cli import main as heatwatch_main
from heatwatch.local.processes import write_settings
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xai4heat-mapping.yaml"
HEADER = "datetime,t_amb,t_ref,t_sup_prim,t_ret_prim,t_sup_sec,t_ret_sec,e,pe"


def good(when: str, k: int = 0) -> str:
    energy = 1234.5 + k * 0.001
    return f"{when},{2.5 + k % 3},{60 + k % 4}.0,85.5,47.25,58.5,42.0,{energy:.3f},310.2"


def csv_file(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def v1(influx: InfluxServer, database: str) -> InfluxSettings:
    return InfluxSettings.model_validate({"url": influx.url, "database": database})


def query(influx: InfluxServer, database: str, q: str) -> list[list[Any]]:
    series = influx.query(q, db=database)
    values = series[0]["values"] if series else []
    assert isinstance(values, list)
    return values


def test_good_rows_stored_zero_rows_skipped_bad_rows_rejected_and_dead_lettered(
    tmp_path: Path, influx: InfluxServer, database: str
) -> None:
    rows = [good(f"2023-01-10 {10 + k // 4:02d}:{k % 4 * 15:02d}:00", k) for k in range(20)]
    rows += [
        "2023-01-10 16:00:00,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",  # the logger had nothing
        "2023-01-10 16:15:00,0.0,0.0,0.0,0.0,0.0,0.0,0.0,",  # ... and no power column either
        "2023-01-10 16:30:00,-39.9,60.0,85.5,47.25,58.5,42.0,1234.6,310.2",  # outdoor open
        "2023-01-10 16:45:00,2.5,60.0,85.5,47.25,abc,42.0,1234.6,310.2",  # wrong_type
        "2023-01-10 17:00:00,2.5,60.0,850.0,47.25,58.5,42.0,1234.6,310.2",  # out_of_range
        "2023-01-10 17:15:00,2.5,60.0,85.5,47.25,-39.9,-39.9,1234.6,310.2",  # missing_field
        "2023-01-10 17:30:00,2.5,60.0,85.5,47.25,58.5,42.0,1234.6,nan",  # not_finite
        "10.01.2023 17:45,2.5,60.0,85.5,47.25,58.5,42.0,1234.6,310.2",  # bad_timestamp
        "2099-01-10 18:00:00,2.5,60.0,85.5,47.25,58.5,42.0,1234.6,310.2",  # future_timestamp
        "2023-03-26 02:30:00,2.5,60.0,85.5,47.25,58.5,42.0,1234.6,310.2",  # DST gap
    ]
    path = csv_file(tmp_path, "scada_T1.csv", rows)
    dead = tmp_path / "rejected.jsonl"
    s = import_files(load_mapping(EXAMPLE), [path], v1(influx, database), dead_letter=dead,
                     progress=False)
    assert s.rows == 30 and s.stored == 21
    assert s.skipped == {"all_zero": 2}
    assert s.rejected == {"wrong_type": 1, "out_of_range": 1, "missing_field": 1,
                          "not_finite": 1, "bad_timestamp": 2, "future_timestamp": 1}
    assert s.spans["T1"].readings == 21
    assert influx.count("telemetry", "supply_temp", db=database) == 21
    assert influx.count("telemetry", "outdoor_temp", db=database) == 20  # -39.9: no value
    # units and tags: MWh -> kWh exactly, zone from the mapping, Europe/Belgrade -> UTC
    [[t, energy, setpoint]] = query(influx, database, 'SELECT heat_energy, supply_setpoint FROM '
                                    '"telemetry" WHERE station = \'T1\' AND zone = \'nis\' '
                                    'ORDER BY time LIMIT 1')
    assert (t, energy, setpoint) == (1673341200 * 10**9, 1234500.0, 60.0)  # 09:00Z
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(records) == 7
    by_reason = {r["reason"]: r for r in records}
    wrong = by_reason["wrong_type"]
    assert wrong["detail"] == "scada_T1.csv:25: supply_temp must be a number, not string"
    assert wrong["excerpt"] == rows[23] and wrong["station"] == "T1"
    assert wrong["topic"] == "import/T1/telemetry"
    assert "clocks went forward" in next(r for r in records if "2023-03-26" in r["excerpt"])[
        "detail"]
    assert "readings stored  21" in s.format()


def test_reimport_stores_nothing_twice_across_the_autumn_dst_hour(
    tmp_path: Path, influx: InfluxServer, database: str
) -> None:
    """Newest first, 15-minute rows through the hour that happens twice (2023-10-29): every
    row is a point of its own, and importing the file again leaves the count unchanged."""
    clock = ["01:30", "01:45", "02:00", "02:15", "02:30", "02:45", "02:00", "02:15", "02:30",
             "02:45", "03:00", "03:15"]
    rows = [good(f"2023-10-29 {hm}:00", k) for k, hm in enumerate(clock)]
    path = csv_file(tmp_path, "scada_D1.csv", list(reversed(rows)))
    mapping = load_mapping(EXAMPLE)
    for _ in range(2):
        s = import_files(mapping, [path], v1(influx, database), progress=False)
        assert (s.stored, s.dst_ambiguous) == (12, 8)
        assert influx.count("telemetry", "supply_temp", db=database) == 12
    times = [row[0] for row in query(influx, database, 'SELECT supply_temp FROM "telemetry"')]
    assert [b - a for a, b in itertools.pairwise(times)] == [15 * 60 * 10**9] * 11


def test_station_per_column_in_a_wide_file(tmp_path: Path, influx: InfluxServer,
                                           database: str) -> None:
    mapping = ImportMapping.model_validate({
        "zone": "west", "zones": {"B": "east"},
        "time": {"column": "when", "format": "iso"},
        "columns": {
            "a_sup": {"field": "supply_temp", "station": "A"},
            "a_ret": {"field": "return_temp", "station": "A"},
            "b_sup": {"field": "supply_temp", "station": "B"},
            "b_ret": {"field": "return_temp", "station": "B"},
            "b_valve": {"field": "valve_pos", "station": "B", "extra": True},
        },
        "skip_rows": {"all_zero": True},
    })
    path = tmp_path / "wide.csv"
    path.write_text("when,a_sup,a_ret,b_sup,b_ret,b_valve,note\n"
                    "2024-01-01T00:00:00Z,70,40,65,38,12.5,x\n"
                    "2024-01-01T00:10:00Z,71,41,0,0,0,y\n"  # B's logger had nothing
                    "2024-01-01T00:20:00Z,72,42,66,39,13,z\n", encoding="utf-8")
    s = import_files(mapping, [path], v1(influx, database), progress=False)
    assert (s.rows, s.stored, s.skipped) == (3, 5, {"all_zero": 1})
    assert s.unmapped_columns == ["note"]
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="station = 'A' AND zone = 'west'") == 3
    assert influx.count("telemetry", "valve_pos", db=database,
                        where="station = 'B' AND zone = 'east'") == 2


def test_station_per_row_from_a_column(tmp_path: Path, influx: InfluxServer,
                                       database: str) -> None:
    mapping = ImportMapping.model_validate({
        "station": {"column": "id"},
        "time": {"column": "ts", "format": "epoch_s"},
        "columns": {"sup": "supply_temp", "ret": "return_temp"},
    })
    path = tmp_path / "long.csv"
    path.write_text("id,ts,sup,ret\nP1,1704067200,70,40\nP2,1704067200,60,35\n"
                    "P1,1704067800,71,41\nbad id,1704067800,50,30\n", encoding="utf-8")
    s = import_files(mapping, [path], v1(influx, database), progress=False)
    assert s.stored == 3 and s.rejected == {"bad_topic": 1}  # the decoder's verdict on "bad id"
    assert {k: v.readings for k, v in s.spans.items()} == {"P1": 2, "P2": 1}
    assert influx.count("telemetry", "supply_temp", db=database, where="station = 'P1'") == 2


def test_v2_writer_gets_the_same_lines(tmp_path: Path, influx2: Influx2Double) -> None:
    path = csv_file(tmp_path, "scada_V2.csv", [good("2024-01-15 12:00:00"),
                                               good("2024-01-15 12:15:00", 1)])
    s = import_files(load_mapping(EXAMPLE), [path], influx2.settings(),
                     progress=False)
    assert s.stored == 2
    [req] = influx2.requests
    assert req.path == "/api/v2/write" and req.params["bucket"] == ["heat-bucket"]
    assert req.body.decode().splitlines() == [
        "telemetry,station=V2,zone=nis outdoor_temp=2.5,supply_setpoint=60.0,"
        "primary_supply_temp=85.5,primary_return_temp=47.25,supply_temp=58.5,return_temp=42.0,"
        "heat_energy=1234500.0,heat_power=310.2 1705316400000000000",
        "telemetry,station=V2,zone=nis outdoor_temp=3.5,supply_setpoint=61.0,"
        "primary_supply_temp=85.5,primary_return_temp=47.25,supply_temp=58.5,return_temp=42.0,"
        "heat_energy=1234501.0,heat_power=310.2 1705317300000000000",
    ]


def test_influxdb_unreachable_stops_the_import(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "scada_X.csv", [good("2024-01-15 12:00:00")])
    settings = InfluxSettings.model_validate({"url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ImportFailed, match="not reachable") as err:
        import_files(load_mapping(EXAMPLE), [path], settings, progress=False, retry_s=0.5)
    assert err.value.summary.stored == 0


def _config(tmp_path: Path, influx: InfluxServer, database: str) -> Path:
    return write_settings(tmp_path / "collector.yaml", CollectorSettings(
        influx=influx.settings(database),
        dead_letter=DeadLetterSettings(file=tmp_path / "dl.jsonl", publish=False),
    ))


def test_cli_imports_and_reports_files_it_cannot_read(
    tmp_path: Path, influx: InfluxServer, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good_file = csv_file(tmp_path, "scada_C1.csv", [good("2024-01-15 12:00:00"),
                                                    "2024-01-15 12:15:00,1,2,3,4,x,6,7,8"])
    broken = tmp_path / "scada_C2.csv"
    broken.write_text("datetime,t_amb\n2024-01-15 12:00:00,1\n", encoding="utf-8")
    cfg = _config(tmp_path, influx, database)
    code = heatwatch_main(["import", "--mapping", str(EXAMPLE), "-c", str(cfg), "--quiet",
                           str(good_file), str(broken)])
    out = capsys.readouterr().out
    assert code == 1  # one file could not be imported
    assert "readings stored  1" in out and "rejected         1 (wrong_type 1)" in out
    assert "scada_C2.csv: no column 't_ref'" in out
    assert str(tmp_path / "dl.jsonl") in out
    assert influx.count("telemetry", "supply_temp", db=database) == 1
    code = heatwatch_main(["import", "--mapping", str(EXAMPLE), "-c", str(cfg), "--quiet",
                           str(good_file)])
    assert code == 0


def test_cli_bad_mapping_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("time: {column: t}\ncolumns: {a: supply_tmp}\nstation: {value: S}\n",
                   encoding="utf-8")
    path = csv_file(tmp_path, "x.csv", [])
    assert heatwatch_main(["import", "--mapping", str(bad), str(path)]) == 2
    assert "columns.a: 'supply_tmp' is not a telemetry field" in capsys.readouterr().err


def test_lines_influxdb_refuses_are_dead_lettered_and_the_rest_stored(
    tmp_path: Path, influx: InfluxServer, database: str
) -> None:
    """A field type conflict (heat_power already stored as a boolean in that shard) refuses
    those lines only: the collector's bisection isolates them, as for live readings."""
    import httpx

    httpx.post(f"{influx.url}/write", params={"db": database}, content=(
        "telemetry,station=R1,zone=nis heat_power=true 1705316400000000000\n"))  # 2024-01-15
    rows = [good("2024-01-15 12:30:00"), good("2020-06-01 12:00:00", 1)]  # another shard
    path = csv_file(tmp_path, "scada_R1.csv", rows)
    dead = tmp_path / "dl.jsonl"
    s = import_files(load_mapping(EXAMPLE), [path], v1(influx, database), dead_letter=dead,
                     progress=False)
    assert (s.stored, s.rejected) == (1, {"influx_refused": 1})
    [record] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert record["reason"] == "influx_refused" and "field type conflict" in record["detail"]


def test_short_rows_blank_lines_and_the_progress_bar(
    tmp_path: Path, influx: InfluxServer, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scada_P1.csv"
    path.write_text(HEADER + "\n" + good("2024-01-15 12:00:00") + "\n\n"
                    "2024-01-15 12:15:00,1.5,60.0,85.5,47.25,58.5,42.0\n", encoding="utf-8")
    s = import_files(load_mapping(EXAMPLE), [path], v1(influx, database), progress=True)
    assert (s.rows, s.stored) == (2, 2)  # the short row lacks only e and pe
    assert influx.count("telemetry", "heat_energy", db=database) == 1
    assert "import" in capsys.readouterr().err  # tqdm drew on stderr


def test_influxdb_failing_mid_import_is_retried_then_stops_the_import(
    tmp_path: Path, influx2: Influx2Double
) -> None:
    influx2.status = 503
    path = csv_file(tmp_path, "scada_F1.csv", [good("2024-01-15 12:00:00")])
    with pytest.raises(ImportFailed, match="unavailable for 1 s") as err:
        import_files(load_mapping(EXAMPLE), [path], influx2.settings(),
                     progress=False, retry_s=1.0)
    assert len(influx2.requests) >= 2  # tried again before giving up
    assert err.value.summary.stored == 0 and err.value.summary.rows == 1


def test_influxdb_failing_with_batches_queued_still_ends(
    tmp_path: Path, influx2: Influx2Double
) -> None:
    """Many batches waiting when the writer gives up: the import stops, it does not hang."""
    influx2.status = 503
    rows = [good(f"2024-01-{1 + k // 96:02d} {k % 96 // 4:02d}:{k % 4 * 15:02d}:00", k)
            for k in range(2000)]
    path = csv_file(tmp_path, "scada_F2.csv", rows)
    with pytest.raises(ImportFailed, match="unavailable"):
        import_files(load_mapping(EXAMPLE), [path], influx2.settings(),
                     progress=False, retry_s=0.6, batch_size=100)
