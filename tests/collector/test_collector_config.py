"""The sample config is the reference: it loads, equals the defaults and names every key;
bad values give precise errors; HEATWATCH_* variables override the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import BaseModel

from collector import cli
from collector.config import CollectorSettings, load_collector_settings
from heatwatch.settings import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "collector" / "collector.sample.yaml"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_keys(ann, f"{prefix}{name}."))
    return out


def test_sample_loads_and_equals_defaults() -> None:
    assert load_collector_settings(SAMPLE) == load_collector_settings(None)


def test_sample_documents_every_key() -> None:
    text = SAMPLE.read_text()
    missing = [k for k in _keys(CollectorSettings) if f"{k.rsplit('.', 1)[-1]}:" not in text]
    assert missing == []


def test_bad_value_names_key_file_and_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch:\n  size: 0\nspool:\n  max_bytes: 10\n")
    with pytest.raises(ConfigError) as err:
        load_collector_settings(cfg)
    msg = str(err.value)
    assert str(cfg) in msg
    assert "batch.size: Input should be greater than or equal to 1" in msg
    assert "HEATWATCH_BATCH__SIZE" in msg
    assert "spool.max_bytes" in msg


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch:\n  sise: 10\n")
    with pytest.raises(ConfigError, match=r"batch\.sise: Extra inputs are not permitted"):
        load_collector_settings(cfg)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch:\n  size: 10\nmqtt:\n  host: broker.example\n")
    monkeypatch.setenv("HEATWATCH_BATCH__SIZE", "20")
    s = load_collector_settings(cfg)
    assert s.batch.size == 20
    assert s.mqtt.host == "broker.example"
    assert s.mqtt.client_id == "heatwatch-collector", "collector's own default client id"


def test_v2_needs_org_bucket_token(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("influx:\n  transport: v2\n  org: o\n")
    with pytest.raises(ConfigError, match="transport v2 needs bucket, token"):
        load_collector_settings(cfg)


def test_cli_prints_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("metrics:\n  port: 70000\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.main(parser.parse_args(["-c", str(cfg)])) == 2
    err = capsys.readouterr().err
    assert "metrics.port: Input should be less than or equal to 65535" in err


def test_seq_accounting_defaults_off_only_in_a_shared_group() -> None:
    from collector.config import SubscriptionSettings

    assert SubscriptionSettings().counts_seq
    assert not SubscriptionSettings(shared_group="g").counts_seq
    assert SubscriptionSettings(shared_group="g", seq_accounting="on").counts_seq
    assert not SubscriptionSettings(seq_accounting="off").counts_seq
