"""Rules file: the sample is the reference (equals the defaults), overrides layer, errors
are caught at start-up and name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.config import RulesConfig, load_rules
from heatwatch.settings import ConfigError

SAMPLE = Path(__file__).parents[2] / "alerts" / "rules.sample.yaml"


def test_sample_file_is_the_defaults() -> None:
    assert load_rules(SAMPLE).model_dump() == RulesConfig().model_dump()


def test_no_file_means_defaults() -> None:
    assert load_rules(None).defaults.zone_cold.standard_c == 18.0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_zone_then_station_overrides(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, """
zones:
  north:
    makeup_surge: {ratio: 0.03, recover_ratio: 0.02}
    zone_cold: {share: 0.2}
stations:
  s1:
    makeup_surge: {for_s: 0}
"""))
    s1 = rules.params_for("north", "s1").makeup_surge
    assert (s1.ratio, s1.recover_ratio, s1.for_s) == (0.03, 0.02, 0)  # zone + station
    s2 = rules.params_for("north", "s2").makeup_surge
    assert (s2.ratio, s2.for_s) == (0.03, 600)  # zone only
    elsewhere = rules.params_for("south", "s1").makeup_surge
    assert (elsewhere.ratio, elsewhere.for_s) == (0.02, 0)  # station only
    assert rules.params_for("north").zone_cold.share == 0.2
    assert rules.params_for("north").zone_cold.standard_c == 18.0  # untouched key kept
    assert rules.params_for("north", "s2") is rules.params_for("north", "s9")  # shared, cached


def test_invalid_combined_override_fails_at_start(tmp_path: Path) -> None:
    # fine on its own, but under the default recover_ratio 0.015 once layered
    path = write(tmp_path, "zones:\n  north:\n    makeup_surge: {ratio: 0.01}\n")
    with pytest.raises(ConfigError, match=r"zones\.north") as info:
        load_rules(path)
    assert "recover_ratio must be <= ratio" in str(info.value)


def test_override_judged_on_layered_values(tmp_path: Path) -> None:
    # recover_ratio 0.03 alone is above the class default ratio (0.02), but the file's
    # defaults raise ratio to 0.05, so the layered station values are consistent
    rules = load_rules(write(tmp_path, """
defaults:
  makeup_surge: {ratio: 0.05, recover_ratio: 0.04}
stations:
  s1:
    makeup_surge: {recover_ratio: 0.03}
"""))
    s1 = rules.params_for("any", "s1").makeup_surge
    assert (s1.ratio, s1.recover_ratio) == (0.05, 0.03)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("defaults:\n  zone_cold:\n    shares: 0.2\n", "defaults.zone_cold.shares"),
        ("defaults:\n  zone_cold:\n    share: 2\n", "defaults.zone_cold.share"),
        ("defaults:\n  heating:\n    timezone: Mars/Olympus\n", "defaults.heating"),
        ("defaults:\n  supply_below_curve:\n    curve: [{outdoor_c: 5, supply_c: 35}]\n",
         "defaults.supply_below_curve"),
        ("pipeline:\n  silent_share: 0\n", "pipeline.silent_share"),
        ("bogus: 1\n", "bogus"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(write(tmp_path, text))
    assert where in str(info.value) and "rules.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('off_windows: [{start: "25:00", end: "05:00"}]', "off_windows.0.start"),
        ('off_windows: [{start: "22:00"}]', "off_windows.0.end"),
        ('off_windows: ["22:00-05:00"]', "off_windows.0"),
        ('off_windows: [{start: "22:00", end: "22:00"}]', "is empty"),
        ("off_windows: [{start: 22:00, end: \"05:00\"}]", "unquoted 22:00 is the number 1320"),
        ("setback_start: 22:00\n    setback_end: \"06:00\"", "quoted 'HH:MM'"),
        ('off_windows: [{start: "22:00", end: "05:00"}, {start: "04:00", end: "06:00"}]',
         "22:00-05:00 and 04:00-06:00 overlap"),
        ('off_windows: [{start: "12:00", end: "14:00"}, {start: "13:00", end: "13:30"}]',
         "overlap"),
        ("warmup_s: -1", "heating.warmup_s"),
        ("delivering_kw: 0", "heating.delivering_kw"),
    ],
)
def test_heating_schedule_errors(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(write(tmp_path, f"defaults:\n  heating:\n    {text}\n"))
    assert words in str(info.value)


def test_off_windows_layer_and_touching_windows_are_fine(tmp_path: Path) -> None:
    """Windows that touch (one ends when the next starts) do not overlap; a station's list
    replaces the zone's; the calibrated curve is validated like the curve."""
    rules = load_rules(write(tmp_path, """
zones:
  nis:
    heating: {off_windows: [{start: "22:00", end: "05:00"}, {start: "13:00", end: "15:00"}]}
stations:
  L4:
    heating: {off_windows: [{start: "23:00", end: "06:00"}], warmup_s: 3600}
    supply_below_curve:
      calibrated_curve: [{outdoor_c: -10, supply_c: 62}, {outdoor_c: 15, supply_c: 40}]
"""))
    zone = rules.params_for("nis").heating
    assert [(w.start.hour, w.end.hour) for w in zone.off_windows] == [(22, 5), (13, 15)]
    l4 = rules.params_for("nis", "L4")
    assert [(w.start.hour, w.end.hour) for w in l4.heating.off_windows] == [(23, 6)]
    assert l4.heating.warmup_s == 3600 and zone.warmup_s == 5400
    assert l4.supply_below_curve.calibrated_curve is not None
    assert rules.params_for("nis").supply_below_curve.calibrated_curve is None
    load_rules(write(tmp_path, 'defaults:\n  heating:\n    off_windows: [{start: "20:00", '
                               'end: "22:00"}, {start: "22:00", end: "05:00"}]\n'))
    with pytest.raises(ConfigError, match="calibrated_curve"):
        load_rules(write(tmp_path, "stations:\n  L4:\n    supply_below_curve:\n"
                                   "      calibrated_curve: [{outdoor_c: 5, supply_c: 35}]\n"))


def test_unreadable_and_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(write(tmp_path, "defaults: [\n"))


SERVICE_SAMPLE = Path(__file__).parents[2] / "alerts" / "alerts.sample.yaml"


def test_service_sample_is_the_defaults() -> None:
    from alerts.settings import AlertsSettings, load_alerts_settings

    assert load_alerts_settings(SERVICE_SAMPLE).model_dump() == AlertsSettings().model_dump()


def test_service_settings_checks(tmp_path: Path) -> None:
    from alerts.settings import load_alerts_settings

    own = load_alerts_settings(None, mqtt={"host": "broker"})
    assert own.mqtt.client_id == "heatwatch-alerts"  # not the generic id other services use
    with pytest.raises(ConfigError, match="write_events"):
        load_alerts_settings(None, influx={"transport": "v2", "org": "o", "bucket": "b",
                                           "token": "t"})
    with pytest.raises(ConfigError, match="rules"):
        load_alerts_settings(None, rules=tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"notifications\.webhooks\.x\.url"):
        load_alerts_settings(None, notifications={"webhooks": {"x": {"url": "ftp://nope"}}})
