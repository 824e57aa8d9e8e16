"""docker-compose.yml without Docker: valid Compose, secrets without defaults, healthchecks and
dependencies, and every heatwatch service's command, config file, variables and ports checked
against the code that will read them.

``compose-spec.json`` is the Compose Specification schema as shipped in the PyPI package
``docker-compose`` 1.29.2 (``compose/config/compose_spec.json``, the spec of May 2021); newer
spec fields are not used in our file, so the older schema is a strict enough check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from compose_model import (
    ROOT,
    MissingVariable,
    bind_mounts,
    env_path_problem,
    host_paths,
    interpolate,
    read_env_file,
    settings_class,
    variables,
)

from heatwatch.cli import SUBCOMMANDS, _load, build_parser
from heatwatch.settings import load_settings

COMPOSE = ROOT / "docker-compose.yml"
RAW_TEXT = COMPOSE.read_text(encoding="utf-8")
RAW = yaml.safe_load(RAW_TEXT)
ENV_EXAMPLE = read_env_file(ROOT / ".env.example")
CONFIG = interpolate(RAW, ENV_EXAMPLE)
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text(encoding="utf-8"))
HEATWATCH_SERVICES = [n for n, s in CONFIG["services"].items()
                      if s.get("command", [""])[0] == "heatwatch"]


def _validate(doc: dict[str, Any]) -> None:
    # The vendored schema names draft 2019-09 with a "$schema" URL jsonschema does not know.
    jsonschema.Draft201909Validator(SCHEMA).validate(doc)


def test_compose_file_matches_the_compose_specification() -> None:
    _validate(CONFIG)
    broken = json.loads(json.dumps(CONFIG))
    broken["services"]["collector"]["depends_on"]["mosquitto"]["condition"] = "when_ready"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_secrets_are_required_and_never_defaulted() -> None:
    code = "\n".join(ln for ln in RAW_TEXT.splitlines() if not ln.lstrip().startswith("#"))
    used = variables(code)
    secrets = {n for n in ENV_EXAMPLE}  # every uncommented line of .env.example
    for name in secrets:
        assert name in used, f"{name} in .env.example but unused"
        assert used[name] == {":?"}, f"{name} must be ${{{name}:?...}} everywhere, not {used[name]}"
    required = {n for n, ops in used.items() if ":?" in ops}
    assert required == secrets, "every required variable belongs in .env.example"
    for name in secrets:
        env = {k: v for k, v in ENV_EXAMPLE.items() if k != name}
        with pytest.raises(MissingVariable, match=name):
            interpolate(RAW, env)
    optional = {n for n, ops in used.items() if n not in secrets}
    assert all(ops <= {":-"} for n, ops in used.items() if n in optional)
    assert not any(w in n for n in optional for w in ("PASSWORD", "TOKEN", "KEY"))


def test_healthchecks_and_dependencies() -> None:
    services = CONFIG["services"]
    for name, svc in services.items():
        if "demo" not in svc.get("profiles", []):
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        for dep, cond in svc.get("depends_on", {}).items():
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has none"
            assert "profiles" not in services[dep], f"{name} depends on optional {dep}"
    assert services["simulator"]["profiles"] == ["demo"]
    for name in ("mosquitto", "influxdb", "grafana", "collector", "alerts", "api"):
        assert "profiles" not in services[name]


@pytest.mark.parametrize("name", HEATWATCH_SERVICES)
def test_heatwatch_command_is_a_real_subcommand(name: str) -> None:
    argv = CONFIG["services"][name]["command"]
    assert argv[1] in SUBCOMMANDS, f"{name}: heatwatch {argv[1]} does not exist"
    module = _load(SUBCOMMANDS[argv[1]][0])
    if module is None or not hasattr(module, "main"):
        pytest.skip(f"{SUBCOMMANDS[argv[1]][0]} is not written yet: only the name is checked")
    args = build_parser().parse_args(argv[1:])  # SystemExit (a failure) on unknown flags
    config = getattr(args, "config", None)
    if config is not None:
        mounts = bind_mounts(CONFIG["services"][name])
        assert str(config) in mounts, f"{name}: {config} is not mounted"
        assert mounts[str(config)].is_file()


def _service_settings(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    svc = CONFIG["services"][name]
    cls = settings_class(SUBCOMMANDS[svc["command"][1]][0])
    if cls is None:
        pytest.skip(f"{name}: no settings class yet; env names checked when it exists")
    env = svc.get("environment", {})
    problems = [p for k in env if (p := env_path_problem(cls, k)) is not None]
    assert problems == []
    mounts = bind_mounts(svc)
    for key in list(__import__("os").environ):
        if key.startswith("HEATWATCH_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(host_paths(value, mounts)))
    argv = svc["command"]
    path = None
    tmp_path.mkdir(parents=True, exist_ok=True)
    if "-c" in argv:
        source = mounts[argv[argv.index("-c") + 1]]
        data = host_paths(yaml.safe_load(source.read_text(encoding="utf-8")) or {}, mounts)
        path = tmp_path / source.name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_settings(cls, path)


@pytest.mark.parametrize("name", HEATWATCH_SERVICES)
def test_service_environment_validates_in_its_settings_class(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _service_settings(name, tmp_path, monkeypatch)
    svc = CONFIG["services"][name]
    if hasattr(settings, "mqtt"):
        assert settings.mqtt.host == "mosquitto" and settings.mqtt.password is not None
        assert settings.mqtt.username in (ROOT / "deploy/mosquitto/acl").read_text().split()
    if hasattr(settings, "influx"):
        influx = settings.influx
        assert influx.url == "http://influxdb:8086" and influx.token is not None
        # v2 writes to the bucket; v1 (/write on InfluxDB 2.x) must name the bucket as database
        assert influx.transport == "v2" or influx.database == ENV_EXAMPLE["INFLUX_BUCKET"]
    health = json.dumps(svc.get("healthcheck", {}))
    if hasattr(settings, "metrics"):  # the healthcheck reads the port the service serves
        assert f"127.0.0.1:{settings.metrics.port}/" in health
        assert settings.metrics.host == "0.0.0.0"
    if hasattr(settings, "server"):
        assert f"127.0.0.1:{settings.server.port}/healthz" in health
        assert any(p.endswith(f":{settings.server.port}") for p in svc["ports"])
        assert settings.server.host == "0.0.0.0"


def test_alerts_and_api_share_the_alert_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = _service_settings("alerts", tmp_path / "a", monkeypatch)
    api = _service_settings("api", tmp_path / "b", monkeypatch)
    assert alerts.state_db == api.alerts_db
    assert str(alerts.state_db) in json.dumps(CONFIG["services"]["alerts"]["healthcheck"])
    volume = "alerts-state:" + str(alerts.state_db.parent)
    assert volume in CONFIG["services"]["alerts"]["volumes"]
    assert volume in CONFIG["services"]["api"]["volumes"]


def test_demo_registry_is_the_simulated_fleet(tmp_path: Path) -> None:
    if _load("simulators.cli") is None:
        pytest.skip("simulators not importable")
    argv = CONFIG["services"]["simulator"]["command"]
    fleet = [a for i, a in enumerate(argv)
             if a in ("--stations", "--flats", "--seed") or argv[i - 1] in (
                 "--stations", "--flats", "--seed")]
    out = tmp_path / "stations.yaml"
    subprocess.run(
        [str(ROOT / ".venv/bin/heatwatch"), "simulate", *fleet, "--write-registry", str(out),
         "--no-run"], check=True, capture_output=True, timeout=60,
    )
    demo = ROOT / "deploy/heatwatch/stations.demo.yaml"
    assert out.read_bytes() == demo.read_bytes(), "regenerate stations.demo.yaml"
    for name in ("collector", "alerts", "api"):
        assert bind_mounts(CONFIG["services"][name])["/etc/heatwatch/stations.yaml"] == demo


def test_mosquitto_files_agree() -> None:
    svc = CONFIG["services"]["mosquitto"]
    mounts = bind_mounts(svc)
    conf = mounts["/mosquitto/config/mosquitto.conf"].read_text(encoding="utf-8")
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert "password_file /mosquitto/config/passwd" in conf
    assert "acl_file /mosquitto/config/acl" in conf and "/mosquitto/config/acl" in mounts
    script = mounts["/mosquitto/init/entrypoint.sh"].read_text(encoding="utf-8")
    acl_users = [line.split()[1] for line in mounts["/mosquitto/config/acl"].read_text()
                 .splitlines() if line.startswith("user ")]
    for user in acl_users:
        assert f"add {user} " in script, f"ACL user {user} gets no password"
    for var in svc["environment"]:
        assert f"${var}" in script
    for name in HEATWATCH_SERVICES:
        user = CONFIG["services"][name]["environment"]["HEATWATCH_MQTT__USERNAME"]
        assert user in acl_users


def test_dockerfile_installs_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = [line.split()[1].rstrip("/") for line in text.splitlines()
              if line.startswith("COPY ")]
    for src in copied:
        assert (ROOT / src).exists(), src
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    import tomllib

    include = tomllib.loads(pyproject)["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in include} <= set(copied)
    assert "USER heatwatch" in text


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    assert shutil.which("docker-compose"), "docker-compose missing: `make test` installs it"
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "--env-file", str(env), "-f",
         str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    env.write_text("# no secrets\n", encoding="utf-8")
    refused = subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "--env-file", str(env), "-f",
         str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode != 0 and "set " in refused.stderr and ".env" in refused.stderr
