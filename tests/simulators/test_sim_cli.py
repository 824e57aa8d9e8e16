"""Shipped scenarios, the CLI (registry, JSONL output, --fault) and settings errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from heatwatch.registry import load_registry
from simulators.cli import add_arguments, main, parse_fault
from simulators.scenario import SCENARIO_DIR, load_scenario


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load_and_run(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.description
    out = tmp_path / "out.jsonl"
    truth = tmp_path / "truth.jsonl"
    rc = main(_args("-c", str(path), "--fast", "--duration", "20m", "--stations",
                    str(min(scenario.fleet.stations, 300)), "--output", str(out),
                    "--ground-truth", str(truth)))
    assert rc == 0
    lines = out.read_bytes().splitlines()
    assert len(lines) > 100
    first = orjson.loads(lines[0])
    assert first["retain"] and first["payload"] == "online"


def test_write_registry_matches_the_fleet(tmp_path: Path) -> None:
    reg = tmp_path / "registry.yaml"
    rc = main(_args("--stations", "12", "--flats", "10-20", "--write-registry", str(reg),
                    "--no-run", "--seed", "5"))
    assert rc == 0
    registry = load_registry(reg)
    assert len(registry) == 12
    st = registry.get("st-00001")
    assert st is not None and st.zone == "heping" and 10 <= len(st.meters) <= 20
    assert any(m.top_floor for m in st.meters) and any(m.gable_end for m in st.meters)
    assert {s.zone for s in registry}.issubset(set(load_scenario().fleet.zones))


def test_cli_fault_flag_and_jsonl_output(tmp_path: Path) -> None:
    out, truth = tmp_path / "o.jsonl", tmp_path / "t.jsonl"
    rc = main(_args("--stations", "3", "--duration", "30m", "--fast", "--output", str(out),
                    "--fault", "pump_trip:st-00002:5m:10m", "--ground-truth", str(truth),
                    "--start", "2026-01-12T00:00:00+08:00"))
    assert rc == 0
    rows = [orjson.loads(x) for x in truth.read_bytes().splitlines()]
    assert [(r["kind"], r["station"]) for r in rows] == [("pump_trip", "st-00002")]


def test_parse_fault() -> None:
    assert parse_fault("leak:st-00003:2h:6h:0.04") == {
        "kind": "leak", "station": "st-00003", "start": "2h", "duration": "6h", "size": 0.04}
    assert parse_fault("pump_trip:zone=tiexi:1h:3h")["zone"] == "tiexi"
    assert parse_fault("sensor_stuck:st-1:1h:3h:supply_temp")["field"] == "supply_temp"
    with pytest.raises(argparse.ArgumentTypeError):
        parse_fault("leak:st-1")


def test_bad_scenario_exits_2_with_a_precise_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("fleet:\n  stations: 0\nreporting:\n  flat_interval_s: 15s\n")
    assert main(_args("-c", str(bad), "--no-run")) == 2
    err = capsys.readouterr().err
    assert "fleet.stations" in err and "reporting" in err


def test_without_a_scenario_the_fleet_runs_live_until_stopped() -> None:
    from simulators.cli import _overrides

    live = _overrides(_args("--stations", "2"), {})["time"]
    assert live == {"mode": "realtime", "speed": None, "duration": None}
    assert "time" not in _overrides(_args("-c", "normal_week"), {})
    assert _overrides(_args("--fast", "--duration", "1h"), {})["time"]["mode"] == "accelerated"


def test_cli_overrides_keep_the_files_secrets(tmp_path: Path) -> None:
    from simulators.cli import _overrides, _raw_scenario

    path = tmp_path / "s.yaml"
    path.write_text("mqtt:\n  host: broker\n  password: s3cret\n")
    merged = _overrides(_args("-c", str(path), "--port", "1884"), _raw_scenario(path))
    settings = load_scenario(path, **merged)
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert (settings.mqtt.host, settings.mqtt.port) == ("broker", 1884)
