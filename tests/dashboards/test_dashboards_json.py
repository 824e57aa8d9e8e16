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

from dashboards.build import DASHBOARDS, JSON_DIR, generate, load_json
from dashboards.check import problems
from dashboards.cli import add_arguments, main
from dashboards.model import DATASOURCE_UID, Panel, Query

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "provisioning"


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in JSON_DIR.glob("*.json"))
    for path in written:
        assert path.read_bytes() == (JSON_DIR / path.name).read_bytes(), (
            f"{path.name} is stale: run `heatwatch dashboards generate` and commit"
        )


def test_generate_check_flag_reports_stale(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    generate(tmp_path)
    assert main(parser.parse_args(["generate", "--out", str(tmp_path), "--check"])) == 0
    (tmp_path / "zone-flats.json").write_text("{}", encoding="utf-8")
    assert main(parser.parse_args(["generate", "--out", str(tmp_path), "--check"])) == 1


def test_committed_dashboards_pass_the_check_and_cover_the_issue() -> None:
    docs = load_json()
    assert set(docs) == set(DASHBOARDS)
    uids = [d["uid"] for d in docs.values()]
    assert len(set(uids)) == len(uids)
    for name, doc in docs.items():
        assert problems(doc) == [], name
    variables = {n: [v["name"] for v in d["templating"]["list"]] for n, d in docs.items()}
    assert variables["fleet-overview"] == ["zone"]
    assert variables["station-detail"] == ["zone", "station"]
    annotations = [a["query"] for a in docs["station-detail"]["annotations"]["list"][1:]]
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
    return bad


@pytest.mark.parametrize("change", ["dup-id", "no-refid", "not-raw", "wide", "overlap",
                                    "datasource", "no-uid"])
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
