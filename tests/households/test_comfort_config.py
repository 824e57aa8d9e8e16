"""The comfort file: the sample shows the defaults, errors name the key, fees per zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from heatwatch.settings import ConfigError
from households.config import ComfortConfig, DayCloseSettings, load_comfort

SAMPLE = Path(__file__).resolve().parents[2] / "households" / "comfort.sample.yaml"


def test_sample_is_the_defaults() -> None:
    assert load_comfort(SAMPLE) == ComfortConfig()
    assert load_comfort(None) == ComfortConfig()


def test_zone_fees() -> None:
    cfg = ComfortConfig(fee_per_m2_day=0.2, zone_fees={"north": 0.25})
    assert (cfg.fee("north"), cfg.fee("south")) == (0.25, 0.2)


@pytest.mark.parametrize(("text", "message"), [
    ("ledger: {standard_c: 12}\n", "ledger: Value error, critical_c must be <= standard_c"),
    ("bands: [{name: a, below_c: 18, share: 0.5}, {name: a, below_c: 13, share: 1}]\n",
     "bands: Value error, band names must be distinct"),
    ("bands: [{name: a, below_c: 18, share: 1.5}]\n", "bands.0.share"),
    ("fee_per_m2_day: -1\n", "fee_per_m2_day"),
    ("zone_fees: {'bad zone': 1}\n", "zone_fees.bad zone"),
    ("colour: red\n", "colour: Extra inputs are not permitted"),
    ("bands: [\n", "not valid YAML"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "comfort.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="comfort") as err:
        load_comfort(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_day_close_settings_check_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        DayCloseSettings(file=tmp_path / "missing.yaml")


def test_the_alert_service_needs_v1_writes_for_the_ledger() -> None:
    from alerts.settings import load_alerts_settings

    v2 = {"transport": "v2", "url": "http://db:8086", "org": "o", "bucket": "heat",
          "token": "t"}
    with pytest.raises(ConfigError, match=r"comfort\.enabled .* influx\.transport v1"):
        load_alerts_settings(None, write_events=False, influx=v2)
    off = load_alerts_settings(None, write_events=False, influx=v2, comfort={"enabled": False})
    assert not off.comfort.enabled
