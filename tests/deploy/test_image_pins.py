"""Reproducible builds: every image pinned to a patch release, the Dockerfile's dependencies in
a layer before the code and installed from constraints.txt, CI (scripts/setup.sh) installing
from the same file, and that file agreeing with pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml
from compose_model import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
LINES = [ln.strip() for ln in DOCKERFILE.splitlines()]
PATCH = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+(-[\w.]+)?$")  # name:MAJOR.MINOR.PATCH[-variant]
OWN_IMAGE = "heatwatch:${HEATWATCH_VERSION:-latest}"  # built from this Dockerfile


def _pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = version
    return out


def test_compose_images_are_pinned_to_a_patch_release() -> None:
    images = []
    for name in ("docker-compose.yml", "docker-compose.demo.yml"):
        doc = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        images += [(name, svc, s["image"]) for svc, s in doc["services"].items() if "image" in s]
    assert images
    loose = [i for i in images if i[2] != OWN_IMAGE and not PATCH.match(i[2])]
    assert loose == []


def test_dockerfile_base_image_is_pinned_to_a_patch_release() -> None:
    froms = [ln.split()[1] for ln in LINES if ln.startswith("FROM ")]
    assert froms and all(PATCH.match(f) for f in froms), froms


def test_dependencies_install_in_a_layer_before_the_code() -> None:
    copies = [(i, ln.split()[1:-1]) for i, ln in enumerate(LINES) if ln.startswith("COPY ")]
    runs = [i for i, ln in enumerate(LINES) if ln.startswith("RUN ")]
    [deps] = [i for i in runs if "-c constraints.txt -r" in " ".join(LINES[i:i + 3])]
    # Before the dependency layer only the files that list the dependencies are copied.
    before = {src for i, srcs in copies if i < deps for src in srcs}
    assert before == {"pyproject.toml", "constraints.txt"}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = {p.rstrip("*") + "/" for p in
               packages["tool"]["setuptools"]["packages"]["find"]["include"]}
    code = [i for i, srcs in copies if set(srcs) & include]
    assert code and min(code) > deps
    [final] = [i for i in runs if "pip install" in LINES[i] and i > max(code)]
    assert "--no-deps" in LINES[final] and "pip check" in LINES[final]


def test_the_dockerfile_requirement_list_is_pyprojects_and_constraints_cover_it() -> None:
    """Runs the Dockerfile's own one-liner on pyproject.toml, then checks every requirement it
    lists is pinned in constraints.txt to a version the requirement accepts."""
    [cmd] = re.findall(r'python -c "([^"]+)"', DOCKERFILE)
    listed = subprocess.run([sys.executable, "-c", cmd], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60).stdout.split("\n")
    reqs = [Requirement(r) for r in listed if r]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert len(reqs) >= len(project["dependencies"])
    pins = _pins()
    bad = {str(r): pins.get(canonicalize_name(r.name)) for r in reqs
           if pins.get(canonicalize_name(r.name)) is None
           or not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)}
    assert bad == {}


def test_every_declared_dependency_of_every_extra_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"],
                *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pins = _pins()
    assert [r for r in declared if canonicalize_name(Requirement(r).name) not in pins] == []


def test_constraints_file_is_what_this_venv_gives() -> None:
    """scripts/constraints.py --check: the file was regenerated after the last dependency
    change (docs/development.md, "Dependencies")."""
    done = subprocess.run([sys.executable, "scripts/constraints.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_setup_installs_from_the_constraints_file() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    installs = [ln for ln in setup.splitlines() if "pip install" in ln and "-e" in ln]
    assert installs and all("-c constraints.txt" in ln for ln in installs)
    assert "constraints.txt -nt" in setup  # a refreshed file reinstalls
