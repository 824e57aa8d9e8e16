"""The forecast file: the sample is valid and complete, and mistakes are named precisely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from forecast.settings import ForecastSettings, build_forecast_settings, load_forecast_settings
from heatwatch.settings import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "forecast" / "forecast.sample.yaml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))[0] if hasattr(ann, "__args__") else ann
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out |= _keys(inner, f"{prefix}{name}.")
    return out


def _sample_keys(value: object, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(value, list):
        for item in value:
            out |= _sample_keys(item, prefix)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.add(prefix + k)
            out |= _sample_keys(v, f"{prefix}{k}.")
    return out


def test_sample_is_valid_and_shows_every_key() -> None:
    settings = load_forecast_settings(SAMPLE)
    assert settings.open_meteo[0].zone == "nis-center"
    assert _sample_keys(yaml.safe_load(SAMPLE.read_text())) == _keys(ForecastSettings)


def test_sample_shows_the_defaults() -> None:
    data = yaml.safe_load(SAMPLE.read_text())
    defaults = ForecastSettings()
    assert data["mqtt"] == defaults.mqtt.model_dump()
    assert data["store"] == defaults.store.model_dump()
    assert data["keep_s"] == defaults.keep_s
    om = data["open_meteo"][0]
    shown = build_forecast_settings({"open_meteo": [
        {"zone": "z", "latitude": 0, "longitude": 0}]}).open_meteo[0].model_dump()
    for key in ("url", "forecast_hours", "interval_s", "timeout_s", "retries", "retry_delay_s"):
        assert om[key] == shown[key], key


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("")
    assert load_forecast_settings(path) == ForecastSettings()


@pytest.mark.parametrize(("data", "where"), [
    ({"mqtt": {"max_payload": 10}}, "mqtt.max_payload"),
    ({"open_meteo": [{"zone": "a b", "latitude": 1, "longitude": 1}]}, "open_meteo.0.zone"),
    ({"open_meteo": [{"zone": "z", "latitude": 91, "longitude": 1}]}, "open_meteo.0.latitude"),
    ({"open_meteo": [{"zone": "z", "longitude": 1}]}, "open_meteo.0.latitude"),
    ({"open_meteo": [{"zone": "z", "latitude": 1, "longitude": 1, "url": "ftp://x"}]},
     "open_meteo.0.url"),
    ({"open_meteo": [{"zone": "z", "latitude": 1, "longitude": 1, "forecast_hours": 0}]},
     "open_meteo.0.forecast_hours"),
    ({"stor": {"enabled": True}}, "stor"),
    ({"keep_s": -1}, "keep_s"),
])
def test_errors_name_the_key(data: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_forecast_settings(data)
    assert f"\n  {where}: " in str(exc.value)


def test_a_zone_polled_twice_is_refused() -> None:
    one = {"zone": "z", "latitude": 1, "longitude": 1}
    with pytest.raises(ConfigError, match="zone 'z' is polled twice"):
        build_forecast_settings({"open_meteo": [one, one]})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_forecast_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_forecast_settings(bad)
    bad.write_text("- 1\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_forecast_settings(bad)


def test_heatwatch_forecast_check(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "heatwatch.cli", "forecast", "check", str(SAMPLE)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "open-meteo: zone nis-center every 3600 s, 48 h ahead" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("keep_s: -5\n")
    res = subprocess.run([sys.executable, "-m", "heatwatch.cli", "forecast", "check", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "keep_s: Input should be greater than or equal to 0" in res.stderr
