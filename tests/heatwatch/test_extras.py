"""Packaging: the services import nothing from the tools' extras, and a tool run without its
extra exits 2 with one line naming the extra to install (pyproject.toml, heatwatch.extras)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from heatwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
TOOLS_ONLY = ("matplotlib", "tqdm", "grafana_client", "openpyxl")


def _names(reqs: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in reqs}


def test_tool_packages_are_extras_not_base_dependencies() -> None:
    base = _names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    assert not base & {"matplotlib", "tqdm", "grafana-client", "openpyxl"}
    assert _names(extras["tools"]) == {"matplotlib", "tqdm"}
    assert _names(extras["dashboards"]) == {"grafana-client", "niquests"}
    assert _names(extras["reports"]) == {"openpyxl"}
    # make test installs .[dev]: everything the tools' tests need
    assert _names(extras["tools"]) | _names(extras["dashboards"]) <= _names(extras["dev"])


def test_the_services_import_no_tool_package() -> None:
    code = (
        "import sys\n"
        "import collector.service, alerts.service, api.main, simulators.runner\n"
        "import heatwatch.local.run\n"
        f"print(sorted(m for m in {TOOLS_ONLY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("hidden", "argv", "extra"), [
    ("tqdm", ["rules", "backtest", "--from", "2026-01-10T00:00:00Z",
              "--to", "2026-01-11T00:00:00Z"], "tools"),
    ("matplotlib", ["rules", "backtest", "--from", "2026-01-10T00:00:00Z",
                    "--to", "2026-01-11T00:00:00Z", "--plot", "out.png"], "tools"),
    ("tqdm", ["import", "--mapping", "examples/xai4heat-mapping.yaml", "scada.csv"], "tools"),
    ("grafana_client", ["dashboards", "push", "--url", "http://127.0.0.1:9"], "dashboards"),
])
def test_a_tool_without_its_extra_names_the_extra(
    hidden: str, argv: list[str], extra: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # what an install without the extra gives
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"pip install 'heatwatch[{extra}]'" in err
    assert err.startswith(f"heatwatch {argv[0]}") and f"needs {hidden}," in err
