"""Every third-party package heatwatch's code imports is declared in pyproject.toml.

Why: a package that arrives only as another one's dependency (urllib3 through influxdb-client,
niquests through grafana-client) disappears the day that one stops pulling it in, and the
import fails in production, not here, where the venv still has it.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
OWN = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_imported_distribution_is_declared() -> None:
    project = PYPROJECT["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {canonicalize_name(Requirement(r).name) for r in extra}
    dists = metadata.packages_distributions()
    undeclared: dict[str, str] = {}
    for package in sorted(OWN):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imported(path) - OWN - set(sys.stdlib_module_names):
                found = {canonicalize_name(d) for d in dists.get(name, [])}
                assert found, f"{path.relative_to(ROOT)} imports {name}, which is not installed"
                if not found & declared:
                    undeclared[f"{path.relative_to(ROOT)}: {name}"] = ", ".join(sorted(found))
    assert undeclared == {}, undeclared
