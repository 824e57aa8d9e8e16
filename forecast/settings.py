"""Settings of the forecast input (``forecast/forecast.sample.yaml`` is the reference).

The forecast file is named by the alerts service's ``forecast:`` key and read when that service
starts (the ``cold_predicted`` rule needs the forecasts in-process); ``heatwatch forecast check``
validates it on its own. The connection blocks (``mqtt``, ``influx``) are the alerts service's:
the forecast file says only what to read and keep.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from heatwatch.registry import ID_PATTERN
from heatwatch.settings import ConfigError

__all__ = [
    "ForecastSettings",
    "ModelSettings",
    "MqttInputSettings",
    "OpenMeteoSettings",
    "StoreSettings",
    "load_forecast_settings",
]

OPEN_METEO_URL = "https://api.open-meteo.com/v1/forecast"
MAX_HOURS = 384  # 16 days, the longest forecast Open-Meteo serves


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttInputSettings(_Block):
    """Forecasts published on ``{prefix}/_weather/{zone}/forecast`` (docs/forecast.md)."""

    enabled: bool = True
    max_payload: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    max_points: int = Field(default=MAX_HOURS, ge=1, le=10_000)
    max_future_s: float = Field(
        default=600.0, gt=0, description="an issue time further ahead of our clock is refused")


class OpenMeteoSettings(_Block):
    """One zone's forecast polled from an Open-Meteo compatible ``/v1/forecast`` endpoint."""

    zone: str = Field(pattern=ID_PATTERN)
    url: str = Field(default=OPEN_METEO_URL, pattern=r"^https?://[^\s]+$")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    forecast_hours: int = Field(default=48, ge=1, le=MAX_HOURS)
    interval_s: float = Field(default=3600.0, ge=1, description="time between polls")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="per HTTP request")
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts after a failure")
    retry_delay_s: float = Field(default=5.0, gt=0, le=600,
                                 description="first wait between attempts, doubled each time")

    @model_validator(mode="after")
    def _finite(self) -> OpenMeteoSettings:
        if not (math.isfinite(self.latitude) and math.isfinite(self.longitude)):
            raise ValueError("latitude and longitude must be finite")
        return self


class StoreSettings(_Block):
    """Whether every received issue is written to InfluxDB (measurement weather_forecast)."""

    enabled: bool = True


class ModelSettings(_Block):
    """The flats' thermal models and the prediction cycle (docs/forecast.md, "The model")."""

    enabled: bool = True
    path: Path = Path("run/forecast-models.npz")  # written by `heatwatch forecast fit`
    cycle_s: float = Field(default=900.0, ge=60, le=3600, description="time between cycles")
    horizon_s: float = Field(default=43200.0, ge=3600, le=48 * 3600,
                             description="how far ahead each cycle predicts")
    step_s: float = Field(default=900.0, ge=60, le=3600, description="prediction step")
    refit_every_s: float = Field(default=86400.0, ge=0,
                                 description="refit from InfluxDB this often (0: never)")
    fit_days: float = Field(default=14.0, gt=1, le=90, description="history each fit reads")
    write_predictions: bool = True  # measurement indoor_forecast (Grafana, API)
    # Stations with planned off windows whose controllers keep heating on nights colder than
    # this (at the window's start); None: they switch off whatever the weather.
    run_through_below_c: float | None = Field(default=None, ge=-50, le=30)


class ForecastSettings(_Block):
    """Everything the forecast file holds."""

    model: ModelSettings = ModelSettings()
    mqtt: MqttInputSettings = MqttInputSettings()
    open_meteo: list[OpenMeteoSettings] = []
    store: StoreSettings = StoreSettings()
    keep_s: float = Field(
        default=48 * 3600.0, ge=0, le=30 * 86400,
        description="issues kept in memory per zone behind the newest one")

    @model_validator(mode="after")
    def _one_poller_per_zone(self) -> ForecastSettings:
        seen: set[str] = set()
        for i, om in enumerate(self.open_meteo):
            if om.zone in seen:
                raise ValueError(f"open_meteo[{i}]: zone {om.zone!r} is polled twice")
            seen.add(om.zone)
        return self


def build_forecast_settings(data: dict[str, Any], source: str = "forecast settings"
                            ) -> ForecastSettings:
    """Validate a parsed mapping; :class:`ConfigError` names every wrong key by its path."""
    try:
        return ForecastSettings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        # Not chained: pydantic's text quotes the rejected input values.
        raise ConfigError(f"invalid forecast configuration in {source}:\n"
                          + "\n".join(lines)) from None


def load_forecast_settings(path: Path | str) -> ForecastSettings:
    """Read and validate the forecast YAML file (ConfigError with the file and key paths)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read forecast config: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1})"
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return build_forecast_settings(data, str(path))
