"""Regression tests for two soak findings about a city's registry (20,000 stations, 420,000
flats, ~31 MB of YAML), loaded by every service:

* it took minutes to load: PyYAML's pure-Python parser. heatwatch.registry uses libyaml's
  parser when PyYAML has it (same safe subset, about four times faster);
* it cost 1.5 GB RSS per service (issue 13, item 21): the whole YAML document was held, then a
  pydantic model per flat. It is now read one station at a time into slotted flats. The RSS
  figures are bench/registry_memory.py's; here tracemalloc checks the same two properties on a
  few thousand flats.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from test_registry import fleet

import heatwatch.registry as registry_module
from heatwatch.registry import load_registry
from heatwatch.settings import ConfigError


@pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")
def test_registry_is_parsed_with_libyaml() -> None:
    from yaml._yaml import CParser

    assert issubclass(registry_module._LOADER, CParser)


def test_registry_loader_stays_safe(tmp_path: Path) -> None:
    """No arbitrary Python objects from a registry file, whichever loader is used."""
    path = tmp_path / "registry.yaml"
    path.write_text("stations: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(path)
    path.write_text("stations:\n  - !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(path)


def test_yaml_is_streamed_into_compact_flats(tmp_path: Path) -> None:
    """Loading holds one station's YAML at a time, not the document (which alone peaks at
    ~5 KB per flat with libyaml's whole-document loader), and keeps ~200 bytes per flat
    (a pydantic ``BaseModel`` flat alone was 488 bytes plus its id)."""
    flats = 120 * 25
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(fleet(stations=120, flats=25)))
    tracemalloc.start()
    try:
        reg = load_registry(path)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reg.meter_count() == flats
    assert peak - kept < 500_000, f"{peak - kept:,} bytes held on the way"
    assert kept / flats < 300, f"{kept / flats:.0f} bytes per flat"
