"""docs/forecast.md stays true to the code: reasons, the example payload, the config keys."""

from __future__ import annotations

import re
from pathlib import Path

import forecast.openmeteo
import forecast.wire
from forecast.settings import ForecastSettings, OpenMeteoSettings
from forecast.wire import decode_forecast

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "forecast.md").read_text(encoding="utf-8")


def _reasons(module: object) -> set[str]:
    source = Path(module.__file__).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    return set(re.findall(r'ForecastRejected\(\s*"([a-z_]+)"', source))


def test_every_mqtt_rejection_reason_is_in_the_table() -> None:
    reasons = _reasons(forecast.wire)
    assert len(reasons) >= 10
    table = DOC.split("### HTTP")[0]
    for reason in reasons:
        assert f"`{reason}`" in table, reason


def test_open_meteo_reasons_are_named() -> None:
    for reason in _reasons(forecast.openmeteo) - _reasons(forecast.wire):
        assert f"`{reason}`" in DOC, reason
    assert "`unreachable`" in DOC


def test_example_payload_decodes() -> None:
    block = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert block is not None
    raw = block.group(1).encode()
    f = decode_forecast("heat/_weather/north/forecast", raw, prefix="heat",
                        now=1796623500.0)
    assert (f.zone, len(f.points)) == ("north", 2)


# The forecast input's keys; the model's (``model:``) are documented in the model's sections.
INPUT_KEYS = ("mqtt", "open_meteo", "store", "keep_s")


def test_config_table_names_every_key() -> None:
    table = DOC.split("## Configuration")[1].split("## Storage")[0]
    for name in INPUT_KEYS:
        field = ForecastSettings.model_fields[name]
        sub = getattr(field.annotation, "model_fields", None)
        if sub:
            for key in sub:
                assert f"`{name}.{key}`" in table, f"{name}.{key}"
        else:
            assert f"`{name}" in table, name
    for key in OpenMeteoSettings.model_fields:
        assert f"`{key}`" in table, key
