"""deploy/systemd/*.service: real heatwatch subcommands, config files that exist in the
deployment layout, and units systemd itself accepts (systemd-analyze verify)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from heatwatch.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def test_one_unit_per_service() -> None:
    assert [p.name for p in UNITS] == [
        "heatwatch-alerts.service", "heatwatch-api.service", "heatwatch-collector.service"]


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_unit_runs_a_real_subcommand_with_its_own_config(path: Path) -> None:
    unit = _unit(path)
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("/bin/heatwatch") and argv[1] in SUBCOMMANDS
    config = Path(argv[argv.index("-c") + 1])
    assert config.parent == Path("/etc/heatwatch")
    assert unit["Service"]["EnvironmentFile"].startswith("/etc/heatwatch/")
    assert unit["Service"]["User"] == "heatwatch"
    assert unit["Service"]["Restart"] == "always"
    assert unit["Service"]["RestartPreventExitStatus"] == "2"  # config errors: no restart loop
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_systemd_accepts_the_unit(path: Path, tmp_path: Path) -> None:
    # ExecStart must exist for verify: point it at this checkout's heatwatch for the check.
    text = path.read_text(encoding="utf-8").replace(
        "/opt/heatwatch/venv/bin/heatwatch", str(ROOT / ".venv/bin/heatwatch"))
    copy = tmp_path / path.name
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                            text=True, timeout=60)
    lines = [ln for ln in (result.stdout + result.stderr).splitlines()
             if path.name in ln or "heatwatch" in ln]
    assert lines == [], "\n".join(lines)
