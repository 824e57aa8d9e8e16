"""The committed dashboard JSON: regenerates byte for byte, passes the structural check, and
references the data source the provisioning files create."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import DASHBOARDS, IMPORT_DIR, JSON_DIR, generate, load_json
from dashboards.check import GRAFANA_UNITS, problems
from dashboards.cli import add_arguments, main
from dashboards.model import DATASOURCE_INPUT, DATASOURCE_UID, Panel, Query

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "provisioning"


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    written = generate(tmp_path / "json", tmp_path / "import")
    committed = sorted(JSON_DIR.glob("*.json")) + sorted(IMPORT_DIR.glob("*.json"))
    assert sorted(p.relative_to(tmp_path) for p in written) == sorted(
        p.relative_to(JSON_DIR.parent) for p in committed)
    for path in written:
        assert path.read_bytes() == (JSON_DIR.parent / path.relative_to(tmp_path)).read_bytes(), (
            f"{path} is stale: run `heatwatch dashboards generate` and commit"
        )


def test_generate_check_flag_reports_stale(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "json"
    generate(out)
    assert main(parser.parse_args(["generate", "--out", str(out), "--check"])) == 0
    (tmp_path / "import" / "zone-flats.json").write_text("{}", encoding="utf-8")
    assert main(parser.parse_args(["generate", "--out", str(out), "--check"])) == 1
    generate(out)
    (out / "zone-flats.json").write_text("{}", encoding="utf-8")
    assert main(parser.parse_args(["generate", "--out", str(out), "--check"])) == 1


def test_committed_dashboards_pass_the_check_and_cover_the_issue() -> None:
    docs = load_json()
    assert set(docs) == set(DASHBOARDS)
    uids = [d["uid"] for d in docs.values()]
    assert len(set(uids)) == len(uids)
    for name, doc in docs.items():
        assert problems(doc) == [], name
    variables = {n: [v["name"] for v in d["templating"]["list"]] for n, d in docs.items()}
    assert variables["fleet-overview"] == ["datasource", "zone"]
    assert variables["station-detail"] == ["datasource", "zone", "station"]
    annotations = [a["target"]["query"] for a in docs["station-detail"]["annotations"]["list"][1:]]
    assert all('FROM "alert_events"' in q for q in annotations) and annotations


def _broken(doc: dict[str, Any], change: str) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    p0, p1 = bad["panels"][0], bad["panels"][1]
    if change == "dup-id":
        p1["id"] = p0["id"]
    elif change == "no-refid":
        del p0["targets"][0]["refId"]
    elif change == "not-raw":
        p0["targets"][0]["rawQuery"] = False
    elif change == "wide":
        p0["gridPos"]["x"] = 20
    elif change == "overlap":
        p1["gridPos"] = dict(p0["gridPos"])
    elif change == "datasource":
        p0["targets"][0]["datasource"]["uid"] = "some-other"
    elif change == "no-uid":
        del bad["uid"]
    elif change == "unit":
        p0["fieldConfig"]["defaults"]["unit"] = "m3h"  # not an id: Grafana shows "m3h"
    elif change == "legacy-annotation":
        anno = bad["annotations"]["list"][1]
        anno.update({"query": anno.pop("target")["query"], "titleColumn": "title"})
    elif change == "hard-coded-datasource":
        p0["datasource"]["uid"] = DATASOURCE_UID
    elif change == "no-datasource-variable":
        bad["templating"]["list"] = bad["templating"]["list"][1:]
    return bad


@pytest.mark.parametrize("change", ["dup-id", "no-refid", "not-raw", "wide", "overlap",
                                    "datasource", "no-uid", "unit", "legacy-annotation",
                                    "hard-coded-datasource", "no-datasource-variable"])
def test_check_catches_broken_dashboards(change: str) -> None:
    doc = load_json()["station-detail"]
    assert problems(_broken(doc, change)), change


def test_builders_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        Panel("x", "stat", [Query("SELECT 1")], w=25)
    with pytest.raises(ValueError):
        Panel("x", "stat", [])


def test_provisioning_matches_dashboards() -> None:
    for path in sorted((PROVISIONING / "datasources").glob("*.yaml")) + sorted(
        (PROVISIONING / "variants").glob("*.yaml")
    ):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        (ds,) = doc["datasources"]
        assert ds["uid"] == DATASOURCE_UID and ds["type"] == "influxdb", path
        assert ds["jsonData"].get("version", "InfluxQL") == "InfluxQL", path
        assert ds["jsonData"]["dbName"], path
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "heatwatch.yaml").read_text())
    (prov,) = provider["providers"]
    assert prov["type"] == "file" and prov["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/json:{prov['options']['path']}:ro" in mounts
    assert "./dashboards/provisioning/datasources:/etc/grafana/provisioning/datasources:ro" \
        in mounts
    # Every ${VAR} the provisioned data source expands is in Grafana's environment: set by
    # compose, or exported by its entrypoint (the scoped token, read from its file).
    used = re.findall(r"\$\{(\w+)\}", (PROVISIONING / "datasources" / "influxdb.yaml").read_text())
    grafana = compose["services"]["grafana"]
    exported = re.findall(r"\b(\w+)=\$\$\(cat ", " ".join(grafana.get("entrypoint", [])))
    grafana_env = set(grafana["environment"]) | set(exported)
    assert used and set(used) <= grafana_env, set(used) - grafana_env


def test_json_is_sorted_and_ends_with_newline() -> None:
    for path in JSON_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n" \
            == text


def _prepare_annotation(json_: dict[str, Any]) -> dict[str, Any]:
    """Grafana's InfluxDB prepareAnnotation (public/app/plugins/datasource/influxdb/
    migrations.ts), transcribed: a target without a query is rebuilt from the legacy
    top-level keys; a target with one is kept; no target stays no target."""
    out = dict(json_)
    target = out.get("target")
    if target and not target.get("query"):
        out["target"] = {"query": out.get("query", ""), "queryType": "tags",
                         "fromAnnotations": True, "titleColumn": out.get("titleColumn", "")}
    return out


def test_annotations_have_the_shape_grafana_runs() -> None:
    """Issue 14 item 1: after Grafana's migration every annotation has a target whose query
    is ours; the legacy shape we used to write would have no target at all."""
    for name, doc in load_json().items():
        for anno in doc["annotations"]["list"]:
            if anno.get("builtIn"):
                continue
            migrated = _prepare_annotation(anno)
            assert migrated["target"]["query"] == anno["target"]["query"], name
            assert 'FROM "alert_events"' in migrated["target"]["query"]
            assert migrated["target"]["fromAnnotations"] is True
            assert migrated["target"]["rawQuery"] is True
            assert {"titleColumn", "textColumn", "tagsColumn"} <= set(migrated["target"])
    legacy = {"name": "old", "query": "SELECT 1", "titleColumn": "title"}
    assert "target" not in _prepare_annotation(legacy)  # why the old JSON never ran


def _import(doc: dict[str, Any], chosen_uid: str) -> dict[str, Any]:
    """What Grafana's import does with __inputs (pkg/services/dashboardimport/utils/
    dash_template_evaluator.go): every input must be given; ${NAME} is replaced in every
    string; __inputs is dropped."""
    values = {f"${{{i['name']}}}": chosen_uid for i in doc["__inputs"]}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$\{.+?\}", lambda m: values.get(m.group(0), m.group(0)), value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if k != "__inputs"}
        return value

    out = walk(doc)
    assert isinstance(out, dict)
    return out


def test_datasource_is_a_variable_with_the_provisioned_default_and_an_import_input() -> None:
    """Issue 14 item 2: no panel names the uid; the variable defaults to the provisioned one;
    the import form asks for the data source and, once imported, defaults to the chosen one."""
    for name, doc in load_json().items():
        text = json.dumps(doc)
        assert f'"uid": "{DATASOURCE_UID}"' not in text, name
        (var,) = [v for v in doc["templating"]["list"] if v["name"] == "datasource"]
        assert var["type"] == "datasource" and var["query"] == "influxdb"
        assert var["current"]["value"] == DATASOURCE_UID
        assert "__inputs" not in doc
        imported_form = json.loads((IMPORT_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert problems(imported_form) == []
        (inp,) = imported_form["__inputs"]
        assert inp == {**inp, "name": DATASOURCE_INPUT, "type": "datasource",
                       "pluginId": "influxdb"}
        imported = _import(imported_form, "P1234ABCD")
        (var,) = [v for v in imported["templating"]["list"] if v["name"] == "datasource"]
        assert var["current"]["value"] == "P1234ABCD"
        # Everything else is identical to the provisioned JSON.
        var["current"] = {"text": DATASOURCE_UID, "value": DATASOURCE_UID}
        assert imported == doc
        # Every panel, target and variable references the variable.
        refs = re.findall(r'"datasource": \{"type": "(\w+)", "uid": "([^"]+)"\}', text)
        assert refs and set(refs) - {("grafana", "-- Grafana --")} == {
            ("influxdb", "${datasource}")}  # the built-in annotation is Grafana's own


def test_units_are_grafana_ids_and_flows_read_m3_per_hour() -> None:
    """Issue 14 item 4: ids from packages/grafana-data/src/valueFormats/categories.ts, or a
    custom suffix (valueFormats.ts getValueFormat: 'suffix:' -> toFixedUnit)."""
    units = {p["title"]: p["fieldConfig"]["defaults"].get("unit")
             for d in load_json().values() for p in d["panels"]}
    assert units["Flows"] == units["Make-up water against the 2 % line"] == "suffix:m³/h"
    assert {u for u in units.values() if u and not u.startswith("suffix:")} <= GRAFANA_UNITS


def _links(doc: dict[str, Any]) -> list[str]:
    return [link["url"] for p in doc["panels"]
            for link in p["fieldConfig"]["defaults"].get("links", [])]


def test_drill_down_fleet_to_station_to_zone() -> None:
    """Issue 14 item 4: data links carry the clicked station/zone and the time range, and
    point at dashboards that exist with variables that exist there."""
    docs = load_json()
    by_uid = {d["uid"]: d for d in docs.values()}
    fleet, station, zone = (_links(docs[n]) for n in ("fleet-overview", "station-detail",
                                                      "zone-flats"))
    assert any("/d/heatwatch-station/" in u and "var-station=${__data.fields.station}" in u
               for u in fleet)
    assert any("/d/heatwatch-zone/" in u and "var-zone=${__field.labels.zone}" in u
               for u in fleet)
    assert any("/d/heatwatch-station/" in u for u in zone)
    top = [link["url"] for link in docs["station-detail"]["links"]]
    assert any(u.startswith("/d/heatwatch-zone/") and "var-zone=$zone" in u for u in top)
    for url in fleet + station + zone + top:
        uid = url.split("/")[2]
        assert uid in by_uid, url
        names = {v["name"] for v in by_uid[uid]["templating"]["list"]}
        assert set(re.findall(r"var-(\w+)=", url)) <= names, url
        if "__" in url:
            assert "${__url_time_range}" in url, url
