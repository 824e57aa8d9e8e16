"""Settings safety rules, the sample config as reference, the key helper, the command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from api import cli
from api.config import ApiSettings, load_api_settings
from api.keys import KeyRing, generate_key, hash_key
from api.keys import main as keys_main
from heatwatch.cli import build_parser
from heatwatch.settings import ConfigError

SAMPLE = Path(__file__).parents[2] / "api" / "api.sample.yaml"
KEY = {"name": "ops", "role": "crew", "sha256": "a" * 64}


def test_no_keys_outside_dev_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        load_api_settings(None)


def test_dev_mode_only_on_loopback() -> None:
    assert load_api_settings(None, dev_mode=True).dev_mode
    with pytest.raises(ConfigError, match="only binds to loopback"):
        load_api_settings(None, dev_mode=True, server={"host": "0.0.0.0"})
    settings = load_api_settings(None, keys=[KEY], server={"host": "0.0.0.0"})
    assert settings.server.host == "0.0.0.0"


def test_bad_key_entries_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"keys\.0\.sha256"):
        load_api_settings(None, keys=[{**KEY, "sha256": "plaintext-key"}])
    with pytest.raises(ConfigError, match=r"keys\.0\.role"):
        load_api_settings(None, keys=[{**KEY, "role": "root"}])
    with pytest.raises(ConfigError, match="same sha256"):
        load_api_settings(None, keys=[KEY, {**KEY, "name": "other"}])
    monkeypatch.setenv("HEATWATCH_SERVER__PORT", "99999")
    with pytest.raises(ConfigError, match="HEATWATCH_SERVER__PORT"):
        load_api_settings(None, keys=[KEY])


def test_sample_config_is_the_reference() -> None:
    """Every settings key appears in the sample, and the sample's values are the defaults."""
    text = SAMPLE.read_text()
    data = yaml.safe_load(text)
    defaults = load_api_settings(None, dev_mode=True)
    for name, info in ApiSettings.model_fields.items():
        assert re.search(rf"^# ?{name}:|^{name}:", text, re.M), f"{name} missing from sample"
        block = info.annotation
        if isinstance(block, type) and issubclass(block, BaseModel):
            for sub in block.model_fields:
                assert re.search(rf"^  (# )?{sub}:", text, re.M), f"{name}.{sub} missing"

    def same(model: BaseModel, block: dict[str, Any], where: str) -> None:
        for name in type(model).model_fields:
            if name not in block:
                continue  # commented out in the sample: an optional key without default
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                same(value, block[name], f"{where}{name}.")
            else:
                shown = value if not isinstance(value, Path) else str(value)
                assert block[name] == shown or (block[name] == [] and value == ()), where + name

    same(defaults, {k: v for k, v in data.items() if k != "dev_mode"}, "")
    loaded = load_api_settings(SAMPLE, dev_mode=True)
    assert loaded.model_dump() == defaults.model_dump()


def test_hash_key_helper(capsys: pytest.CaptureFixture[str]) -> None:
    assert keys_main(["--name", "alice", "--role", "admin"]) == 0
    out = capsys.readouterr().out
    key = out.split("shown only now): ")[1].split()[0]
    entry = yaml.safe_load(out.split("under keys:):\n")[1])[0]
    assert entry == {"name": "alice", "role": "admin", "sha256": hash_key(key)}
    settings = load_api_settings(None, keys=[entry])
    principal = KeyRing(settings.keys).authenticate(key)
    assert principal is not None and principal.name == "alice"
    assert KeyRing(settings.keys).authenticate(key + "x") is None
    assert len(generate_key()) > 40 and generate_key() != generate_key()


def test_heatwatch_api_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["api", "hash-key", "--role", "crew"])
    assert args._main(args) == 0
    assert "role: crew" in capsys.readouterr().out
    bad = tmp_path / "api.yaml"
    bad.write_text("server: {port: 0}\n")
    args = parser.parse_args(["api", "-c", str(bad)])
    assert args._main(args) == 2
    assert "server.port" in capsys.readouterr().err


def test_cli_module_has_the_service_interface() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["-c", "x.yaml"])
    assert args.action == "serve" and args.config == Path("x.yaml")


def test_unusable_paths_are_config_errors(tmp_path: Path) -> None:
    from api.main import create_app

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot open the alert store"):
        create_app(load_api_settings(None, dev_mode=True, alerts_db=blocker / "alerts.db"))
    with pytest.raises(ConfigError, match="station registry"):
        create_app(load_api_settings(None, dev_mode=True, registry=tmp_path / "missing.yaml",
                                     alerts_db=tmp_path / "a.db"))
