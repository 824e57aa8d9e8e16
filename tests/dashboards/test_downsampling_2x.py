"""deploy/influxdb/downsampling.sh: hourly downsampling on InfluxDB 2.x (issue 14, item 10).

No InfluxDB 2.x can be installed here, so the script runs against the ``influx`` CLI double of
tests/deploy/fake_influx.py, extended below by the commands this script adds (``bucket
create``, ``v1 dbrp list|create``, ``task list|create|update``; the CLI's flags and output
columns). What is checked: the calls and their idempotence, the task's Flux against the 1.x
continuous queries (same fields, same aggregates and column names, same hourly buckets), the
compose wiring, and that the API's and Grafana's tokens can read the hourly bucket.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from heatwatch.retention import AGGREGATES, HOURLY_POLICY, MEASUREMENTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "influxdb"
ADMIN = "operator-token-for-tests-0123456789"

EXTRA = '''
import json, os, sys
state_path = os.environ["FAKE_INFLUX_STATE"]
state = json.load(open(state_path))
cmd, args = sys.argv[1:4], sys.argv[3:]
def flag(name):
    return args[args.index(name) + 1] if name in args else None
def save(record):
    json.dump(state, open(state_path, "w"))
    with open(os.environ["FAKE_INFLUX_LOG"], "a") as log:
        log.write(json.dumps(record) + "\\n")
if os.environ.get("INFLUX_TOKEN") != state["admin"]:
    sys.exit("Error: unauthorized access")
if cmd[:2] == ["bucket", "create"]:
    state["buckets"].append({"id": "%016x" % (len(state["buckets"]) + 1), "name": flag("--name"),
                             "retention": flag("--retention")})
    save({"argv": sys.argv[1:]})
elif cmd[:2] == ["v1", "dbrp"]:
    args = sys.argv[4:]
    found = [d for d in state.setdefault("dbrps", [])
             if d["db"] == flag("--db") and d["rp"] == flag("--rp")]
    if cmd[2] == "list":
        for d in found:
            print(f"0001\\t{d['db']}\\t{d['bucket']}\\t{d['rp']}\\tfalse\\tfalse\\t00aa")
    elif cmd[2] == "create":
        state["dbrps"].append({"db": flag("--db"), "rp": flag("--rp"),
                               "bucket": flag("--bucket-id")})
        save({"argv": sys.argv[1:]})
elif cmd[:2] == ["task", "list"]:
    for t in state.setdefault("tasks", []):
        print(f"{t['id']}\\t{t['name']}\\t00aa\\theatwatch\\tactive\\t1h\\t")
elif cmd[:2] in (["task", "create"], ["task", "update"]):
    flux = open(flag("--file")).read()
    name = flux.split('option task = {name: "')[1].split('"')[0]
    tasks = state.setdefault("tasks", [])
    if cmd[1] == "create":
        tasks.append({"id": "%016x" % (len(tasks) + 100), "name": name, "flux": flux})
    else:
        next(t for t in tasks if t["id"] == flag("--id"))["flux"] = flux
    save({"argv": sys.argv[1:3]})
else:
    os.execv(sys.executable, [sys.executable, os.environ["FAKE_INFLUX"], *sys.argv[1:]])
'''


class Influx2:
    def __init__(self, tmp: Path) -> None:
        self.state = tmp / "state.json"
        self.log = tmp / "calls.jsonl"
        self.log.touch()
        self.state.write_text(json.dumps({
            "admin": ADMIN, "org_id": "00000000000000aa", "auths": [],
            "buckets": [{"id": "0a1b2c3d4e5f6789", "name": "heatwatch"}]}))
        bindir = tmp / "bin"
        bindir.mkdir()
        (tmp / "extra.py").write_text(EXTRA)
        stub = f'#!/bin/sh\nexec {sys.executable} {tmp / "extra.py"} "$@"\n'
        (bindir / "influx").write_text(stub)
        (bindir / "influx").chmod(0o755)
        self.env = {"PATH": f"{bindir}:{os.environ['PATH']}", "INFLUX_HOST": "http://x:8086",
                    "INFLUX_TOKEN": ADMIN, "INFLUX_ORG": "heatwatch", "INFLUX_BUCKET": "heatwatch",
                    "INFLUX_HOURLY_BUCKET": "heatwatch_hourly", "TOKENS_DIR": str(tmp / "tokens"),
                    "FAKE_INFLUX_STATE": str(self.state), "FAKE_INFLUX_LOG": str(self.log),
                    "FAKE_INFLUX": str(ROOT / "tests" / "deploy" / "fake_influx.py")}

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(DEPLOY / script)], env=self.env, capture_output=True,
                              text=True, timeout=60)

    def read(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state.read_text())
        return state

    def changes(self) -> list[list[str]]:
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()
                if json.loads(line)["argv"][:2] in (["bucket", "create"], ["v1", "dbrp"],
                                                    ["task", "create"], ["task", "update"])]


def test_bucket_mapping_and_task_are_made_once_then_kept(tmp_path: Path) -> None:
    influx = Influx2(tmp_path)
    first = influx.run("downsampling.sh")
    assert first.returncode == 0, first.stderr
    state = influx.read()
    hourly = next(b for b in state["buckets"] if b["name"] == "heatwatch_hourly")
    assert hourly["retention"] == "43680h"  # 260 weeks, as RetentionSettings.hourly_duration
    assert state["dbrps"] == [{"db": "heatwatch", "rp": HOURLY_POLICY, "bucket": hourly["id"]}]
    (task,) = state["tasks"]
    assert task["name"] == "heatwatch-hourly"
    again = influx.run("downsampling.sh")
    assert again.returncode == 0, again.stderr
    assert [c[:2] for c in influx.changes()] == [
        ["bucket", "create"], ["v1", "dbrp"], ["task", "create"], ["task", "update"]]
    assert len(influx.read()["buckets"]) == 2 and len(influx.read()["tasks"]) == 1


def test_the_flux_task_computes_what_the_continuous_queries_compute(tmp_path: Path) -> None:
    influx = Influx2(tmp_path)
    assert influx.run("downsampling.sh").returncode == 0
    flux = influx.read()["tasks"][0]["flux"]
    for measurement, fields in MEASUREMENTS.items():
        listed = re.search(rf"^{measurement} = \[(.*)\]$", flux, re.M)
        assert listed, measurement
        assert tuple(json.loads(f"[{listed.group(1)}]")) == fields, measurement
    calls = re.findall(r'hourly\(fn: (\w+), suffix: "(\w*)"\)', flux)
    assert tuple(calls) == AGGREGATES  # mean "", min "_min", max "_max", last "_last"
    assert 'from(bucket: "heatwatch")' in flux and 'to(bucket: "heatwatch_hourly")' in flux
    # Hourly windows stamped at their start, as InfluxQL's GROUP BY time(1h); whole hours only;
    # the previous hour recomputed (RESAMPLE FOR 2h).
    assert 'aggregateWindow(every: 1h, fn: fn, createEmpty: false, timeSrc: "_start")' in flux
    assert "stop = date.truncate(t: now(), unit: 1h)" in flux
    assert "date.sub(d: 2h, from: stop)" in flux
    assert "every: 1h" in flux


@pytest.mark.skipif(os.geteuid() != 0, reason="scoped-tokens.sh chowns token files")
def test_api_and_grafana_tokens_read_the_hourly_bucket(tmp_path: Path) -> None:
    influx = Influx2(tmp_path)
    result = influx.run("scoped-tokens.sh")
    assert result.returncode == 0, result.stderr
    state = influx.read()
    ids = {b["name"]: b["id"] for b in state["buckets"]}
    grants = {a["description"]: {(p["action"], p["resource"]["id"]) for p in a["permissions"]}
              for a in state["auths"]}
    raw, hourly = ids["heatwatch"], ids["heatwatch_hourly"]
    assert grants["heatwatch-api"] == grants["heatwatch-grafana"] == {
        ("read", raw), ("read", hourly)}
    # nothing else changes (the collector reads its bucket for SHOW FIELD KEYS, issue #13)
    assert grants["heatwatch-collector"] == {("write", raw), ("read", raw)}


def test_compose_runs_it_and_keeps_raw_readings_90_days() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    maker = compose["services"]["influxdb-tokens"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in maker["volumes"]}
    # scoped-tokens.sh runs "$(dirname "$0")/downsampling.sh": both in /init.
    assert mounts["/init/downsampling.sh"] == "./deploy/influxdb/downsampling.sh"
    assert mounts["/init/scoped-tokens.sh"] == "./deploy/influxdb/scoped-tokens.sh"
    assert maker["environment"]["INFLUX_HOURLY_BUCKET"].startswith("${INFLUX_HOURLY_BUCKET:-")
    init = compose["services"]["influxdb"]["environment"]
    assert init["DOCKER_INFLUXDB_INIT_RETENTION"] == "${INFLUX_RETENTION:-2160h}"  # 90 days
