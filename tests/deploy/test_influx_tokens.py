"""deploy/influxdb/scoped-tokens.sh: one scoped InfluxDB token per service (issue 13, item 19).

No InfluxDB 2.x is installable here, so the script runs against fake_influx.py, a double of the
2.x ``influx`` CLI that follows its documented commands and output formats (see there); what
is checked is what the script asks for and what it leaves behind: the exact permissions per
service, one token file per service readable only by that service's user, the operator token
only in the environment (never on a command line), idempotence, replacement of a revoked token.
docker-compose.yml's side (who mounts which token, who never sees the operator token) is in
test_compose.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "influxdb" / "scoped-tokens.sh"
ADMIN = "operator-token-for-tests-0123456789"
BUCKET_ID = "0a1b2c3d4e5f6789"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script chowns token files")


class Influx:
    def __init__(self, tmp: Path) -> None:
        self.state = tmp / "state.json"
        self.log = tmp / "calls.jsonl"
        self.tokens = tmp / "tokens"
        self.state.write_text(json.dumps({
            "admin": ADMIN, "org_id": "00000000000000aa", "auths": [],
            "buckets": [{"id": BUCKET_ID, "name": "heatwatch"},
                        {"id": "ffffffffffffffff", "name": "other"}],
        }))
        bindir = tmp / "bin"
        bindir.mkdir()
        (bindir / "influx").write_text(
            f"#!/bin/sh\nexec {sys.executable} {Path(__file__).parent / 'fake_influx.py'} \"$@\"\n")
        (bindir / "influx").chmod(0o755)
        self.env = {"PATH": f"{bindir}:{os.environ['PATH']}", "INFLUX_HOST": "http://influxdb:8086",
                    "INFLUX_TOKEN": ADMIN, "INFLUX_ORG": "heatwatch", "INFLUX_BUCKET": "heatwatch",
                    "TOKENS_DIR": str(self.tokens), "FAKE_INFLUX_STATE": str(self.state),
                    "FAKE_INFLUX_LOG": str(self.log)}

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(SCRIPT)], env={**self.env, **env}, capture_output=True,
                              text=True, timeout=60)

    def auths(self) -> list[dict[str, Any]]:
        auths: list[dict[str, Any]] = json.loads(self.state.read_text())["auths"]
        return auths

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def influx(tmp_path: Path) -> Influx:
    return Influx(tmp_path)


def _grants(auth: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["action"], p["resource"]["id"]) for p in auth["permissions"]}


def test_each_service_gets_only_its_permissions(influx: Influx) -> None:
    result = influx.run()
    assert result.returncode == 0, result.stderr
    by_name = {a["description"]: a for a in influx.auths()}
    assert {k: _grants(v) for k, v in by_name.items()} == {
        # read: SHOW FIELD KEYS at start (issue 13, item 2)
        "heatwatch-collector": {("read", BUCKET_ID), ("write", BUCKET_ID)},
        "heatwatch-alerts": {("read", BUCKET_ID), ("write", BUCKET_ID)},
        "heatwatch-api": {("read", BUCKET_ID)},
        "heatwatch-grafana": {("read", BUCKET_ID)},
    }
    owners = {"collector": 10001, "alerts": 10001, "api": 10001, "grafana": 472}
    for name, uid in owners.items():
        file = influx.tokens / name / "token"
        assert file.read_text().strip() == by_name[f"heatwatch-{name}"]["token"]
        st = file.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o400)
    calls = influx.calls()
    assert all(c["env_token"] for c in calls)
    assert not any(ADMIN in " ".join(c["argv"]) for c in calls)


def test_second_run_keeps_tokens_and_a_revoked_one_is_replaced(influx: Influx) -> None:
    assert influx.run().returncode == 0
    first = {a["description"]: a["token"] for a in influx.auths()}
    assert influx.run().returncode == 0
    assert {a["description"]: a["token"] for a in influx.auths()} == first
    # The operator revokes the API's token in InfluxDB; the next start hands out a new one.
    state = json.loads(influx.state.read_text())
    state["auths"] = [a for a in state["auths"] if a["description"] != "heatwatch-api"]
    influx.state.write_text(json.dumps(state))
    result = influx.run()
    assert result.returncode == 0 and "api: new token" in result.stdout
    now = {a["description"]: a["token"] for a in influx.auths()}
    assert now["heatwatch-api"] != first["heatwatch-api"]
    assert (influx.tokens / "api" / "token").read_text().strip() == now["heatwatch-api"]
    assert {k: v for k, v in now.items() if k != "heatwatch-api"} == {
        k: v for k, v in first.items() if k != "heatwatch-api"}
    assert len(now) == 4


def test_a_lost_token_file_replaces_its_authorization(influx: Influx) -> None:
    assert influx.run().returncode == 0
    (influx.tokens / "collector" / "token").unlink()
    assert influx.run().returncode == 0
    collectors = [a for a in influx.auths() if a["description"] == "heatwatch-collector"]
    assert len(collectors) == 1  # the old authorization was deleted, not left valid
    assert (influx.tokens / "collector" / "token").read_text().strip() == collectors[0]["token"]


@pytest.mark.parametrize(("env", "why"), [
    ({"INFLUX_TOKEN": "change-me-to-a-long-random-influx-token"}, "change-me"),
    ({"INFLUX_TOKEN": ""}, "INFLUX_TOKEN"),
    ({"INFLUX_BUCKET": "missing"}, "no bucket missing"),
])
def test_refuses_placeholders_and_missing_buckets(
    influx: Influx, env: dict[str, str], why: str
) -> None:
    result = influx.run(**env)
    assert result.returncode != 0 and why in result.stderr
    assert influx.auths() == []
    assert not (influx.tokens / "collector" / "token").exists()


def test_script_is_posix_sh() -> None:
    if shutil.which("dash") is None:
        pytest.skip("no dash")
    subprocess.run(["dash", "-n", str(SCRIPT)], check=True)
