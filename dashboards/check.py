"""A structural check of Grafana dashboard JSON, strict where Grafana is lenient.

Grafana imports almost anything and shows the damage later (a panel without a refId silently
drops its query, two panels with one id break links and edits, a gridPos past column 24 is
"fixed" by moving panels around). This check is our own subset of the dashboard schema plus
heatwatch's rules: every target is a raw InfluxQL query on the provisioned data source.
"""

from __future__ import annotations

from typing import Any

from dashboards.model import (
    DATASOURCE_INPUT,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    DATASOURCE_VARIABLE,
    GRID_WIDTH,
    datasource_ref,
)

__all__ = ["GRAFANA_UNITS", "problems"]

# Unit ids as Grafana defines them (packages/grafana-data/src/valueFormats/categories.ts), the
# subset heatwatch can use; an unknown id is shown literally next to the value. Anything else
# goes through a custom unit: "suffix:<text>" (valueFormats.ts getValueFormat).
GRAFANA_UNITS = frozenset({
    "none", "short", "percent", "percentunit", "celsius", "kelvin", "pressurebar",
    "pressurekpa", "watt", "kwatt", "megwatt", "kwatth", "m3", "litreh", "flowcms", "rothz",
    "hertz", "s", "ms", "reqps", "ops", "cps", "bytes", "decbytes", "humidity",
})
_REF_UID = datasource_ref()["uid"]

_REQUIRED = ("uid", "title", "panels", "schemaVersion", "templating", "annotations", "time",
             "tags", "version")
_PANEL_REQUIRED = ("id", "type", "title", "gridPos", "targets", "datasource", "fieldConfig")


def _datasource_ok(ref: Any, uid: str) -> bool:
    return isinstance(ref, dict) and ref.get("uid") == uid and ref.get("type") == DATASOURCE_TYPE


def _target_problems(where: str, targets: Any, uid: str) -> list[str]:
    if not isinstance(targets, list) or not targets:
        return [f"{where}: no targets"]
    out = []
    ref_ids = [t.get("refId") for t in targets if isinstance(t, dict)]
    if (len(ref_ids) != len(targets) or len(set(ref_ids)) != len(ref_ids)
            or not all(isinstance(r, str) and r for r in ref_ids)):
        out.append(f"{where}: refIds missing or repeated: {ref_ids}")
    for t in targets:
        if not isinstance(t, dict):
            continue
        name = f"{where} target {t.get('refId')}"
        if not isinstance(t.get("query"), str) or not t["query"].strip():
            out.append(f"{name}: empty query")
        if t.get("rawQuery") is not True:
            out.append(f"{name}: rawQuery must be true (raw InfluxQL)")
        if t.get("resultFormat") not in ("time_series", "table"):
            out.append(f"{name}: bad resultFormat {t.get('resultFormat')!r}")
        if not _datasource_ok(t.get("datasource"), uid):
            out.append(f"{name}: datasource is not {{type: influxdb, uid: {uid}}}")
    return out


def _grid_problems(where: str, grid: Any) -> list[str]:
    keys = ("h", "w", "x", "y")
    if not isinstance(grid, dict) or any(type(grid.get(k)) is not int for k in keys):
        return [f"{where}: gridPos needs integer h, w, x, y"]
    if grid["w"] < 1 or grid["h"] < 1 or grid["x"] < 0 or grid["y"] < 0:
        return [f"{where}: gridPos has a non-positive size or negative position"]
    if grid["x"] + grid["w"] > GRID_WIDTH:
        return [f"{where}: gridPos runs past column {GRID_WIDTH}"]
    return []


def _overlaps(panels: list[dict[str, Any]]) -> list[str]:
    cells: dict[tuple[int, int], int] = {}
    out = []
    for p in panels:
        g = p.get("gridPos")
        if not isinstance(g, dict) or _grid_problems("", g):
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                other = cells.setdefault((x, y), p["id"])
                if other != p["id"]:
                    out.append(f"panels {other} and {p['id']} overlap at ({x}, {y})")
                    return out
    return out


def _unit_problems(where: str, panel: dict[str, Any]) -> list[str]:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if unit is None or unit in GRAFANA_UNITS or (
        isinstance(unit, str) and unit.startswith("suffix:") and len(unit) > 7
    ):
        return []
    return [f"{where}: unit {unit!r} is not a Grafana unit id (use one or 'suffix:...')"]


def _datasource_variable_problems(doc: dict[str, Any], variables: list[Any]) -> list[str]:
    """The data source variable every reference points at, defaulting to the provisioned
    uid (or, in the import form, to the input the import page fills in)."""
    found = [v for v in variables if v.get("name") == DATASOURCE_VARIABLE]
    if len(found) != 1 or found[0].get("type") != "datasource" \
            or found[0].get("query") != DATASOURCE_TYPE:
        return [f"templating: needs one '{DATASOURCE_VARIABLE}' variable of type datasource, "
                f"query {DATASOURCE_TYPE}"]
    expected = f"${{{DATASOURCE_INPUT}}}" if "__inputs" in doc else DATASOURCE_UID
    if found[0].get("current", {}).get("value") != expected:
        return [f"variable {DATASOURCE_VARIABLE}: default must be {expected}"]
    if "__inputs" in doc and not any(
        i.get("name") == DATASOURCE_INPUT and i.get("type") == "datasource"
        and i.get("pluginId") == DATASOURCE_TYPE for i in doc["__inputs"]
    ):
        return [f"__inputs: no datasource input {DATASOURCE_INPUT}"]
    return []


def _annotation_problems(a: dict[str, Any], uid: str) -> list[str]:
    """Grafana's InfluxDB data source runs ``target``; top-level query keys are legacy and
    are migrated only when a target exists (influxdb/migrations.ts, prepareAnnotation)."""
    name = f"annotation {a.get('name')}"
    target = a.get("target")
    if not _datasource_ok(a.get("datasource"), uid):
        return [f"{name}: datasource missing"]
    if not isinstance(target, dict) or not isinstance(target.get("query"), str) \
            or not target["query"].strip():
        return [f"{name}: no target.query"]
    out = []
    if target.get("fromAnnotations") is not True or target.get("rawQuery") is not True:
        out.append(f"{name}: target needs fromAnnotations and rawQuery true")
    legacy = [k for k in ("query", "titleColumn", "textColumn", "tagsColumn") if k in a]
    if legacy:
        out.append(f"{name}: legacy top-level keys {legacy}")
    return out


def problems(doc: dict[str, Any], *, datasource_uid: str = _REF_UID) -> list[str]:
    """Everything wrong with one dashboard document; an empty list means it passes."""
    out = [f"missing key {k!r}" for k in _REQUIRED if k not in doc]
    if out:
        return out
    panels = doc["panels"]
    if not isinstance(panels, list) or not panels:
        return ["panels must be a non-empty list"]
    ids = [p.get("id") for p in panels if isinstance(p, dict)]
    if len(ids) != len(panels) or len(set(ids)) != len(ids) or not all(
        type(i) is int for i in ids
    ):
        out.append(f"panel ids must be unique integers: {ids}")
    for p in panels:
        if not isinstance(p, dict):
            continue
        where = f"panel {p.get('id')} ({p.get('title')!r})"
        out += [f"{where}: missing {k!r}" for k in _PANEL_REQUIRED if k not in p]
        out += _grid_problems(where, p.get("gridPos"))
        out += _target_problems(where, p.get("targets"), datasource_uid)
        out += _unit_problems(where, p)
        if not _datasource_ok(p.get("datasource"), datasource_uid):
            out.append(f"{where}: panel datasource is not the $datasource variable")
    out += _overlaps([p for p in panels if isinstance(p, dict)])
    variables = doc["templating"].get("list") if isinstance(doc["templating"], dict) else None
    if not isinstance(variables, list):
        out.append("templating.list must be a list")
    else:
        names = [v.get("name") for v in variables]
        if len(set(names)) != len(names):
            out.append(f"variable names repeated: {names}")
        out += _datasource_variable_problems(doc, variables)
        for v in variables:
            if v.get("type") == "query" and (
                not v.get("query") or not _datasource_ok(v.get("datasource"), datasource_uid)
            ):
                out.append(f"variable {v.get('name')}: query or datasource missing")
    annotations = doc["annotations"].get("list") if isinstance(doc["annotations"], dict) else None
    if not isinstance(annotations, list):
        out.append("annotations.list must be a list")
    else:
        for a in annotations:
            if a.get("builtIn"):
                continue
            out += _annotation_problems(a, datasource_uid)
    return out
