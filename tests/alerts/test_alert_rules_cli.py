"""``heatwatch rules list`` / ``check``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from alerts.rules_cli import add_arguments, main


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return main(parser.parse_args(argv))


def test_list_names_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["list"]) == 0
    out = capsys.readouterr().out
    for rule in ("station_offline", "zone_cold", "pipeline_down", "makeup_surge"):
        assert rule in out


def test_check_shows_layered_parameters(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("zones:\n  north:\n    makeup_surge: {for_s: 60}\n"
                     "stations:\n  s1:\n    makeup_surge: {ratio: 0.03}\n")
    registry = tmp_path / "registry.yaml"
    registry.write_text("stations:\n  - {id: s1, zone: north}\n")
    code = run(["check", str(rules), "--station", "s1", "--registry", str(registry),
                "--rule", "makeup_surge"])
    assert code == 0
    out = capsys.readouterr().out
    body = yaml.safe_load(out.split("\n", 1)[1])
    assert body["makeup_surge"]["ratio"] == 0.03 and body["makeup_surge"]["for_s"] == 60
    assert "zone north, station s1" in out


def test_check_rejects_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("defaults:\n  zone_cold: {share: 7}\n")
    assert run(["check", str(rules)]) == 2
    assert "defaults.zone_cold.share" in capsys.readouterr().err
