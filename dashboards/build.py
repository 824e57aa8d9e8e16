"""The dashboards heatwatch ships, rendered to stable JSON (``heatwatch dashboards generate``).

The JSON under ``dashboards/json/`` is committed: Grafana provisioning reads it straight from
the checkout (or the image), reviewers see panel changes as diffs, and a test regenerates it
and compares byte for byte, so the Python and the JSON never drift. Stable output means: keys
sorted, two-space indent, UTF-8 (°C stays readable), a final newline, no timestamps or
generated ids anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards.check import problems
from dashboards.fleet import fleet_overview
from dashboards.model import Dashboard
from dashboards.pipeline_health import pipeline_health
from dashboards.station import station_detail
from dashboards.zone import zone_and_flats

__all__ = ["DASHBOARDS", "IMPORT_DIR", "JSON_DIR", "DashboardError", "generate", "load_json",
           "render"]

JSON_DIR = Path(__file__).parent / "json"
# The same dashboards for Grafana's Import page (Dashboards > New > Import): with __inputs, so
# the importer picks the InfluxDB data source. Not under json/, which provisioning reads.
IMPORT_DIR = Path(__file__).parent / "import"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "fleet-overview": fleet_overview,
    "station-detail": station_detail,
    "zone-flats": zone_and_flats,
    "pipeline-health": pipeline_health,
}


class DashboardError(ValueError):
    """A built dashboard fails the structural check; nothing is written."""


def render(dashboard: Dashboard, *, for_import: bool = False) -> str:
    """The dashboard as the exact text committed under ``dashboards/json/`` (``for_import``:
    under ``dashboards/import/``)."""
    doc = dashboard.to_json(for_import=for_import)
    found = problems(doc)
    if found:
        raise DashboardError(f"dashboard {dashboard.uid}: " + "; ".join(found))
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(out_dir: Path = JSON_DIR, import_dir: Path | None = None) -> list[Path]:
    """Render every dashboard into ``out_dir/<name>.json`` and its import form into
    ``import_dir`` (default: ``import`` next to ``out_dir``); returns the files written.

    All dashboards are rendered (and checked) before the first file is written, so a broken
    one never leaves a half-updated directory behind.
    """
    import_dir = import_dir or out_dir.parent / "import"
    texts = {
        (directory, name): render(build(), for_import=directory is import_dir)
        for name, build in DASHBOARDS.items() for directory in (out_dir, import_dir)
    }
    written = []
    for (directory, name), text in texts.items():
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def load_json(json_dir: Path = JSON_DIR) -> dict[str, dict[str, Any]]:
    """The committed dashboards by file stem (what ``push`` uploads)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(json_dir.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise DashboardError(f"{path}: not a JSON object")
        out[path.stem] = doc
    return out
