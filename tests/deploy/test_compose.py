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
    merge,
    read_env_file,
    settings_class,
    variables,
)

from heatwatch.cli import SUBCOMMANDS, _load, build_parser
from heatwatch.settings import load_settings

COMPOSE = ROOT / "docker-compose.yml"
DEMO_COMPOSE = ROOT / "docker-compose.demo.yml"
RAW_TEXT = COMPOSE.read_text(encoding="utf-8")
RAW = yaml.safe_load(RAW_TEXT)
DEMO_TEXT = DEMO_COMPOSE.read_text(encoding="utf-8")
ENV_EXAMPLE = read_env_file(ROOT / ".env.example")
# .env.example leaves every secret empty (compose must refuse it as it is); the tests fill them.
TEST_ENV = {name: f"test-{name.lower().replace('_', '-')}-0123456789" for name in ENV_EXAMPLE}
TEST_ENV["HEATWATCH_API_KEYS"] = json.dumps([{"name": "ops", "role": "admin", "sha256": "0" * 64}])
CONFIG = interpolate(RAW, TEST_ENV)
DEMO = merge(CONFIG, interpolate(yaml.safe_load(DEMO_TEXT), TEST_ENV))
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text(encoding="utf-8"))
HEATWATCH_SERVICES = [n for n, s in DEMO["services"].items()
                      if s.get("command", [""])[0] == "heatwatch"]


def _validate(doc: dict[str, Any]) -> None:
    # The vendored schema names draft 2019-09 with a "$schema" URL jsonschema does not know.
    jsonschema.Draft201909Validator(SCHEMA).validate(doc)


def test_compose_file_matches_the_compose_specification() -> None:
    _validate(CONFIG)
    _validate(DEMO)
    broken = json.loads(json.dumps(CONFIG))
    broken["services"]["collector"]["depends_on"]["mosquitto"]["condition"] = "when_ready"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_secrets_are_required_and_never_defaulted() -> None:
    code = "\n".join(ln for text in (RAW_TEXT, DEMO_TEXT) for ln in text.splitlines()
                     if not ln.lstrip().startswith("#"))
    used = variables(code)
    secrets = set(ENV_EXAMPLE)  # every uncommented line of .env.example
    assert all(v == "" for v in ENV_EXAMPLE.values()), ".env.example must leave secrets empty"
    for name in secrets:
        assert name in used, f"{name} in .env.example but unused"
        assert used[name] == {":?"}, f"{name} must be ${{{name}:?...}} everywhere, not {used[name]}"
    required = {n for n, ops in used.items() if ":?" in ops}
    assert required == secrets, "every required variable belongs in .env.example"
    for name in secrets - {"MQTT_SIMULATOR_PASSWORD"}:
        with pytest.raises(MissingVariable, match=name):
            interpolate(RAW, {**TEST_ENV, name: ""})
    with pytest.raises(MissingVariable, match="MQTT_SIMULATOR_PASSWORD"):
        interpolate(yaml.safe_load(DEMO_TEXT), {**TEST_ENV, "MQTT_SIMULATOR_PASSWORD": ""})
    optional = {n for n, ops in used.items() if n not in secrets}
    assert all(ops <= {":-"} for n, ops in used.items() if n in optional)
    assert not any(w in n for n in optional for w in ("PASSWORD", "TOKEN", "KEY"))


def test_simulator_account_only_in_the_demo() -> None:
    assert "simulator" not in CONFIG["services"]
    assert "MQTT_SIMULATOR_PASSWORD" not in RAW_TEXT
    broker = DEMO["services"]["mosquitto"]["environment"]
    assert broker["MQTT_SIMULATOR_PASSWORD"] == TEST_ENV["MQTT_SIMULATOR_PASSWORD"]
    assert "MQTT_SIMULATOR_PASSWORD" not in CONFIG["services"]["mosquitto"]["environment"]
    assert "simulator" not in (ROOT / "deploy/mosquitto/acl").read_text().split()
    assert "user simulator" in (ROOT / "deploy/mosquitto/acl.demo").read_text()


def test_broker_publishes_only_its_tls_listener() -> None:
    svc = CONFIG["services"]["mosquitto"]
    assert svc["ports"] == ["8883:8883"]
    conf = bind_mounts(svc)["/mosquitto/config/mosquitto.conf"].read_text(encoding="utf-8")
    assert "per_listener_settings true" in conf
    blocks = {int(b.split()[0]): b for b in conf.split("\nlistener ")[1:]}
    assert set(blocks) == {1883, 8883}
    assert "certfile" not in blocks[1883] and "passwd.services" in blocks[1883]
    tls = blocks[8883]
    assert "passwd.stations" in tls and "use_username_as_clientid true" in tls
    assert "/mosquitto/certs" in bind_mounts(svc)
    for name in ("ca.crt", "server.crt", "server.key"):
        assert f"/mosquitto/config/tls/{name}" in tls
    for name in HEATWATCH_SERVICES:  # services use the internal listener
        assert DEMO["services"][name]["environment"]["HEATWATCH_MQTT__PORT"] == "1883"


def test_operator_token_reaches_influxdb_and_the_token_maker_only() -> None:
    holders = {n for n, s in CONFIG["services"].items()
               if TEST_ENV["INFLUX_ADMIN_TOKEN"] in json.dumps(s)}
    assert holders == {"influxdb", "influxdb-tokens"}
    maker = CONFIG["services"]["influxdb-tokens"]
    made = {v.split(":")[1].removeprefix("/tokens/"): v.split(":")[0]
            for v in maker["volumes"] if v.split(":")[1].startswith("/tokens/")}
    assert set(made) == {"collector", "alerts", "api", "grafana"}
    script = bind_mounts(maker)["/init/scoped-tokens.sh"].read_text(encoding="utf-8")
    assert maker["entrypoint"][-1] == "/init/scoped-tokens.sh"
    for name in made:
        assert f"scoped {name} " in script
    for name in ("collector", "alerts", "api", "grafana"):
        svc = CONFIG["services"][name]
        assert svc["depends_on"]["influxdb-tokens"] == {
            "condition": "service_completed_successfully"}
        mounted = [v for v in svc["volumes"] if v.startswith("influx-token-")]
        assert mounted and all(v.startswith(made[name] + ":") for v in mounted), (name, mounted)
        assert all(v.endswith(":ro") for v in mounted)
        env = svc["environment"]
        if name != "grafana":
            assert "HEATWATCH_INFLUX__TOKEN" not in env
            target = mounted[0].split(":")[1]
            assert env["INFLUX_TOKEN_FILE"] == f"{target}/token"
        else:
            assert "INFLUX_TOKEN" not in env
            assert f"cat {mounted[0].split(':')[1]}/token" in svc["entrypoint"][-1]


def test_healthchecks_and_dependencies() -> None:
    services = CONFIG["services"]
    for name, svc in services.items():
        if name != "influxdb-tokens":  # one-shot: it finishes, and others wait for that
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        for dep, cond in svc.get("depends_on", {}).items():
            if dep == "influxdb-tokens":
                assert cond == {"condition": "service_completed_successfully"}, name
                continue
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has none"
    for name in ("mosquitto", "influxdb", "grafana", "collector", "alerts", "api"):
        assert "profiles" not in services[name]
    assert DEMO["services"]["simulator"]["depends_on"] == {
        "mosquitto": {"condition": "service_healthy"},
        "collector": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", HEATWATCH_SERVICES)
def test_heatwatch_command_is_a_real_subcommand(name: str) -> None:
    argv = DEMO["services"][name]["command"]
    assert argv[1] in SUBCOMMANDS, f"{name}: heatwatch {argv[1]} does not exist"
    module = _load(SUBCOMMANDS[argv[1]][0])
    if module is None or not hasattr(module, "main"):
        pytest.skip(f"{SUBCOMMANDS[argv[1]][0]} is not written yet: only the name is checked")
    args = build_parser().parse_args(argv[1:])  # SystemExit (a failure) on unknown flags
    config = getattr(args, "config", None)
    if config is not None:
        mounts = bind_mounts(DEMO["services"][name])
        assert str(config) in mounts, f"{name}: {config} is not mounted"
        assert mounts[str(config)].is_file()


def _service_settings(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    svc = DEMO["services"][name]
    cls = settings_class(SUBCOMMANDS[svc["command"][1]][0])
    if cls is None:
        pytest.skip(f"{name}: no settings class yet; env names checked when it exists")
    env = svc.get("environment", {})
    problems = [p for k in env if k.startswith("HEATWATCH_")
                and (p := env_path_problem(cls, k)) is not None]
    assert problems == []
    mounts = bind_mounts(svc)
    for key in list(__import__("os").environ):
        if key.startswith("HEATWATCH_"):
            monkeypatch.delenv(key)
    tmp_path.mkdir(parents=True, exist_ok=True)
    for key, value in env.items():
        if key == "INFLUX_TOKEN_FILE":  # the image's entrypoint reads it (test_image_entrypoint)
            monkeypatch.setenv("HEATWATCH_INFLUX__TOKEN", "scoped-token-for-tests")
            continue
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
    svc = DEMO["services"][name]
    if hasattr(settings, "mqtt"):
        assert settings.mqtt.host == "mosquitto" and settings.mqtt.password is not None
        acl = (ROOT / "deploy/mosquitto/acl").read_text() + (
            ROOT / "deploy/mosquitto/acl.demo").read_text()
        assert settings.mqtt.username in acl.split()
    if hasattr(settings, "influx"):
        influx = settings.influx
        assert influx.url == "http://influxdb:8086" and influx.token is not None
        # v2 writes to the bucket; v1 (/write on InfluxDB 2.x) must name the bucket as database
        assert influx.transport == "v2" or influx.database == "heatwatch"
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
    argv = DEMO["services"]["simulator"]["command"]
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
    svc = DEMO["services"]["mosquitto"]
    mounts = bind_mounts(svc)
    conf = mounts["/mosquitto/config/mosquitto.conf"].read_text(encoding="utf-8")
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert conf.count("acl_file /mosquitto/config/acl") == 2
    script = mounts["/mosquitto/init/entrypoint.sh"].read_text(encoding="utf-8")
    assert mounts["/mosquitto/init/acl"].name == "acl"
    assert mounts["/mosquitto/init/acl.demo"].name == "acl.demo"
    acl_users = [line.split()[1]
                 for path in (mounts["/mosquitto/init/acl"], mounts["/mosquitto/init/acl.demo"])
                 for line in path.read_text().splitlines() if line.startswith("user ")]
    for user in acl_users:
        assert f"add {user} " in script, f"ACL user {user} gets no password"
    for var in svc["environment"]:
        assert var in script
    for name in HEATWATCH_SERVICES:
        user = DEMO["services"][name]["environment"]["HEATWATCH_MQTT__USERNAME"]
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
    assert 'ENTRYPOINT ["/usr/local/bin/heatwatch-entrypoint"]' in text
    assert "COPY deploy/docker/entrypoint.sh /usr/local/bin/heatwatch-entrypoint" in text


def test_image_entrypoint_hands_over_the_token_file(tmp_path: Path) -> None:
    script = ROOT / "deploy" / "docker" / "entrypoint.sh"
    token = tmp_path / "token"
    token.write_text("scoped-token-abc\n")
    env = {"PATH": "/usr/bin:/bin", "INFLUX_TOKEN_FILE": str(token)}
    out = subprocess.run(["sh", str(script), "env"], env=env, capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr
    assert "HEATWATCH_INFLUX__TOKEN=scoped-token-abc\n" in out.stdout
    assert "INFLUX_TOKEN_FILE" not in out.stdout
    plain = subprocess.run(["sh", str(script), "env"], env={"PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=10)
    assert plain.returncode == 0 and "HEATWATCH_INFLUX__TOKEN" not in plain.stdout
    token.write_text("")
    empty = subprocess.run(["sh", str(script), "env"], env=env, capture_output=True, text=True,
                           timeout=10)
    assert empty.returncode == 2 and "missing or empty" in empty.stderr


def _docker_compose_config(env_text: str, tmp_path: Path, *files: Path) -> (
        subprocess.CompletedProcess[str]):
    env = tmp_path / ".env"
    env.write_text(env_text, encoding="utf-8")
    return subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "--env-file", str(env),
         *(a for f in files for a in ("-f", str(f))), "config", "-q"],
        capture_output=True, text=True, timeout=60,
    )


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    assert shutil.which("docker-compose"), "docker-compose missing: `make test` installs it"
    filled = "".join(f"{k}={v}\n" for k, v in TEST_ENV.items())
    for files in ((COMPOSE,), (COMPOSE, DEMO_COMPOSE)):
        result = _docker_compose_config(filled, tmp_path, *files)
        assert result.returncode == 0, result.stderr
    # .env.example as shipped (every secret empty) and a missing .env are both refused.
    for text in ((ROOT / ".env.example").read_text(encoding="utf-8"), "# no secrets\n"):
        refused = _docker_compose_config(text, tmp_path, COMPOSE)
        assert refused.returncode != 0 and "set " in refused.stderr and ".env" in refused.stderr
    # The production stack does not need the demo's password; the demo does.
    without_demo = "".join(f"{k}={v}\n" for k, v in TEST_ENV.items()
                           if k != "MQTT_SIMULATOR_PASSWORD")
    assert _docker_compose_config(without_demo, tmp_path, COMPOSE).returncode == 0
    demo = _docker_compose_config(without_demo, tmp_path, COMPOSE, DEMO_COMPOSE)
    assert demo.returncode != 0 and "MQTT_SIMULATOR_PASSWORD" in demo.stderr
