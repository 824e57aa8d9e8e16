"""Small typed builders for Grafana dashboards that query InfluxDB with InfluxQL.

Why our own and not grafana-foundation-sdk: the SDK has no InfluxDB query type (we would write
one anyway), pulls a large generated package into every install, and its output carries
defaults we would then have to keep stable across its releases. What heatwatch needs is a
handful of panel kinds, raw InfluxQL targets, query variables and InfluxDB annotations, written
as JSON that does not change unless the Python changes. Frozen dataclasses give that: the
builders are values, ``to_json`` is a pure function, and ``generate`` writes with sorted keys.

Layout is automatic: panels flow left to right on Grafana's 24-column grid in the order given
and wrap to a new row, so adding a panel never means renumbering coordinates by hand; ids are
assigned 1..n in the same order, so they are unique and stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DATASOURCE_INPUT",
    "DATASOURCE_UID",
    "DATASOURCE_VARIABLE",
    "GRID_WIDTH",
    "Annotation",
    "Dashboard",
    "Link",
    "Panel",
    "Query",
    "Threshold",
    "Variable",
    "datasource_ref",
    "datasource_variable",
]

# The provisioned data source (dashboards/provisioning/datasources/*.yaml) has this uid. Panels
# do not name it: they reference the `datasource` template variable, whose default is this uid,
# so the same JSON works in a Grafana whose InfluxDB has another uid (pick it in the variable,
# or at import time through __inputs).
DATASOURCE_UID = "heatwatch-influxdb"
DATASOURCE_TYPE = "influxdb"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_INPUT = "DS_HEATWATCH_INFLUXDB"  # the import UI's data source picker
GRID_WIDTH = 24
SCHEMA_VERSION = 39

Json = dict[str, Any]
PanelType = Literal["timeseries", "stat", "bargauge", "table", "state-timeline", "histogram"]


def datasource_ref() -> Json:
    return {"type": DATASOURCE_TYPE, "uid": f"${{{DATASOURCE_VARIABLE}}}"}


def datasource_variable(default: str = DATASOURCE_UID) -> Json:
    """The data source variable, in the shape Grafana saves it (dashboard-scenes
    sceneVariablesSetToVariables: query = plugin id, refresh on dashboard load)."""
    return {
        "current": {"text": default, "value": default},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": DATASOURCE_VARIABLE,
        "options": [],
        "query": DATASOURCE_TYPE,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


@dataclass(frozen=True, slots=True)
class Link:
    """A data link (panel field) or dashboard link. ``url`` may use Grafana's link variables:
    ``${__field.labels.zone}``, ``${__data.fields.station}``, ``${__url_time_range}``."""

    title: str
    url: str

    def to_json(self) -> Json:
        return {"targetBlank": False, "title": self.title, "url": self.url}

    def to_dashboard_json(self) -> Json:
        return {"asDropdown": False, "icon": "dashboard", "includeVars": False,
                "keepTime": True, "tags": [], "targetBlank": False, "title": self.title,
                "tooltip": "", "type": "link", "url": self.url}


@dataclass(frozen=True, slots=True)
class Query:
    """One raw InfluxQL target. ``alias`` uses Grafana's ``$tag_<key>`` / ``$col`` patterns."""

    query: str
    alias: str = ""
    result_format: Literal["time_series", "table"] = "time_series"

    def to_json(self, ref_id: str) -> Json:
        out: Json = {
            "datasource": datasource_ref(),
            "query": self.query,
            "rawQuery": True,
            "refId": ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out


@dataclass(frozen=True, slots=True)
class Threshold:
    """A colour step: from ``value`` upwards (``None`` is the base step) the colour applies."""

    color: str
    value: float | None = None

    def to_json(self) -> Json:
        return {"color": self.color, "value": self.value}


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel; ``w``/``h`` in grid units (24 columns wide). Extra Grafana options go in
    ``options`` / ``custom`` (field-config ``custom``) / ``overrides`` as plain JSON."""

    title: str
    type: PanelType
    queries: Sequence[Query]
    w: int = 12
    h: int = 8
    description: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    thresholds: Sequence[Threshold] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)
    overrides: Sequence[Mapping[str, Any]] = ()
    transformations: Sequence[Mapping[str, Any]] = ()
    links: Sequence[Link] = ()
    interval: str = ""  # Grafana's min interval: "1h" for panels on hourly data
    # Grafana's panel "relative time": the panel shows the last ``time_from`` (e.g. "30d")
    # whatever the dashboard's range; daily data in a 6-hour dashboard needs it.
    time_from: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.w <= GRID_WIDTH or self.h < 1:
            raise ValueError(f"panel {self.title!r}: bad size {self.w}x{self.h}")
        if not self.queries:
            raise ValueError(f"panel {self.title!r} has no query")

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {}
        if self.unit:
            defaults["unit"] = self.unit
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute", "steps": [t.to_json() for t in self.thresholds]
            }
        if self.custom:
            defaults["custom"] = dict(self.custom)
        if self.links:
            defaults["links"] = [link.to_json() for link in self.links]
        out: Json = {
            "datasource": datasource_ref(),
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": [dict(o) for o in self.overrides]},
            "gridPos": {"h": self.h, "w": self.w, "x": x, "y": y},
            "id": panel_id,
            "options": dict(self.options),
            "targets": [q.to_json(_ref_id(i)) for i, q in enumerate(self.queries)],
            "title": self.title,
            "type": self.type,
        }
        if self.transformations:
            out["transformations"] = [dict(t) for t in self.transformations]
        if self.interval:
            out["interval"] = self.interval
        if self.time_from:
            out["timeFrom"] = self.time_from
        return out


def _ref_id(index: int) -> str:
    if index >= 26:
        raise ValueError("more than 26 queries in one panel")
    return chr(ord("A") + index)


@dataclass(frozen=True, slots=True)
class Variable:
    """A query template variable. ``multi`` variables get an *All* option whose value is
    ``.*`` (one short regex instead of a 20,000-station alternation)."""

    name: str
    label: str
    query: str
    multi: bool = True
    include_all: bool = True

    def to_json(self) -> Json:
        out: Json = {
            "current": {},
            "datasource": datasource_ref(),
            "definition": self.query,
            "hide": 0,
            "includeAll": self.include_all,
            "label": self.label,
            "multi": self.multi,
            "name": self.name,
            "options": [],
            "query": self.query,
            "refresh": 2,  # on time-range change: new stations appear without a reload
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }
        if self.include_all:
            out["allValue"] = ".*"
        return out


@dataclass(frozen=True, slots=True)
class Annotation:
    """InfluxDB annotations: rows of ``query`` become markers; columns name title/text/tags.

    The query lives in ``target``, as Grafana's annotation editor saves it. Top-level
    ``query``/``titleColumn``/... is the legacy shape, which Grafana's InfluxDB data source
    migrates only when a ``target`` already exists (public/app/plugins/datasource/influxdb/
    migrations.ts, prepareAnnotation), so without one the annotation never runs. The keys are
    those its InfluxQL annotation editor sets (components/editor/annotation/AnnotationEditor.tsx:
    rawQuery, fromAnnotations, textEditor, query and the column names).
    """

    name: str
    query: str
    color: str = "red"
    title_column: str = "title"
    text_column: str = "text"
    tags_column: str = "tags"

    def to_json(self) -> Json:
        return {
            "datasource": datasource_ref(),
            "enable": True,
            "hide": False,
            "iconColor": self.color,
            "name": self.name,
            "target": {
                "fromAnnotations": True,
                "query": self.query,
                "rawQuery": True,
                "refId": "Anno",
                "tagsColumn": self.tags_column,
                "textColumn": self.text_column,
                "textEditor": True,
                "titleColumn": self.title_column,
            },
        }


_BUILTIN_ANNOTATION: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: Sequence[Panel]
    variables: Sequence[Variable] = ()
    annotations: Sequence[Annotation] = ()
    tags: Sequence[str] = ("heatwatch",)
    time_from: str = "now-24h"
    refresh: str = "1m"
    links: Sequence[Link] = ()

    def to_json(self, *, for_import: bool = False) -> Json:
        """The provisioned form; ``for_import``: the form for Grafana's Import page, whose
        ``__inputs`` let the importer pick the InfluxDB data source (the import replaces
        ``${DS_...}`` everywhere: pkg/services/dashboardimport/utils/dash_template_evaluator.go)."""
        default = f"${{{DATASOURCE_INPUT}}}" if for_import else DATASOURCE_UID
        out: Json = {
            "annotations": {
                "list": [_BUILTIN_ANNOTATION, *(a.to_json() for a in self.annotations)]
            },
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,  # shared crosshair: line up supply, flow and pressure
            "links": [link.to_dashboard_json() for link in self.links],
            "panels": _layout(self.panels),
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "tags": list(self.tags),
            "templating": {
                "list": [datasource_variable(default), *(v.to_json() for v in self.variables)]
            },
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }
        if for_import:
            out["__inputs"] = [{
                "description": "the InfluxDB (InfluxQL) data source heatwatch writes to",
                "label": "heatwatch InfluxDB",
                "name": DATASOURCE_INPUT,
                "pluginId": DATASOURCE_TYPE,
                "pluginName": "InfluxDB",
                "type": "datasource",
            }]
        return out


def _layout(panels: Sequence[Panel]) -> list[Json]:
    """Flow layout: left to right, wrap at 24 columns; a row is as tall as its tallest panel."""
    out: list[Json] = []
    x = y = row_h = 0
    for i, panel in enumerate(panels, start=1):
        if x + panel.w > GRID_WIDTH:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel.to_json(i, x, y))
        x += panel.w
        row_h = max(row_h, panel.h)
    return out
