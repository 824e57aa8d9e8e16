"""Regression test for a soak finding: a city's registry took minutes to load.

bench/soak.py with 20,000 stations x 20 flats writes a ~30 MB registry; the collector and the
alert engine each spent 2.5 minutes in PyYAML's pure-Python loader before connecting (the broker
queued meanwhile). heatwatch.registry now uses libyaml's safe loader when PyYAML has it (same
safe subset, about four times faster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import heatwatch.registry as registry_module
from heatwatch.registry import load_registry
from heatwatch.settings import ConfigError

SAMPLE = """\
stations:
- id: st-00001
  name: Heping HES 1
  zone: heping
  meters:
  - {id: st-00001-f1-1, floor: 1, top_floor: false, gable_end: true}
- id: st-00002
  zone: tiexi
"""


@pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")
def test_registry_is_read_with_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(SAMPLE)
    loaders: list[type] = []
    real_load = yaml.load

    def spy(stream: str, Loader: type) -> Any:
        loaders.append(Loader)
        return real_load(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", spy)
    reg = load_registry(path)
    assert loaders == [yaml.CSafeLoader]
    assert [s.id for s in reg.stations] == ["st-00001", "st-00002"]
    # Same result as the pure-Python safe loader (libyaml's is the same safe subset).
    assert reg == registry_module.Registry.model_validate(yaml.safe_load(SAMPLE))


def test_registry_loader_stays_safe(tmp_path: Path) -> None:
    """No arbitrary Python objects from a registry file, whichever loader is used."""
    path = tmp_path / "registry.yaml"
    path.write_text("stations: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(path)
