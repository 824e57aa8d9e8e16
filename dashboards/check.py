"""A structural check of Grafana dashboard JSON, strict where Grafana is lenient.

Grafana imports almost anything and shows the damage later (a panel without a refId silently
drops its query, two panels with one id break links and edits, a gridPos past column 24 is
"fixed" by moving panels around). This check is our own subset of the dashboard schema plus
heatwatch's rules: every target is a raw InfluxQL query on the provisioned data source.
"""

from __future__ import annotations

from typing import Any

from dashboards.model import DATASOURCE_TYPE, DATASOURCE_UID, GRID_WIDTH

__all__ = ["problems"]

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


def problems(doc: dict[str, Any], *, datasource_uid: str = DATASOURCE_UID) -> list[str]:
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
        if not _datasource_ok(p.get("datasource"), datasource_uid):
            out.append(f"{where}: panel datasource is not the provisioned one")
    out += _overlaps([p for p in panels if isinstance(p, dict)])
    variables = doc["templating"].get("list") if isinstance(doc["templating"], dict) else None
    if not isinstance(variables, list):
        out.append("templating.list must be a list")
    else:
        names = [v.get("name") for v in variables]
        if len(set(names)) != len(names):
            out.append(f"variable names repeated: {names}")
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
            if not a.get("query") or not _datasource_ok(a.get("datasource"), datasource_uid):
                out.append(f"annotation {a.get('name')}: query or datasource missing")
    return out
