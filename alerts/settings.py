"""Settings of the ``heatwatch alerts`` service (``alerts/alerts.sample.yaml`` is the reference).

The rules themselves live in their own file (``rules:``, reference ``alerts/rules.sample.yaml``)
because operators tune rules far more often than they move brokers, and a rules file can be
checked on its own with ``heatwatch rules check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.notify.breaker import BreakerPolicy
from alerts.notify.channels import ChannelSettings
from alerts.notify.dispatcher import RetryPolicy
from alerts.notify.workers import RetentionSettings
from heatwatch.settings import (
    HeatwatchSettings,
    InfluxSettings,
    MqttProtocol,
    MqttSettings,
    load_settings,
)
from households.config import DayCloseSettings

__all__ = [
    "DEFAULT_CLIENT_ID",
    "AlertsSettings",
    "EventTimeSettings",
    "InboxSettings",
    "MetricsSettings",
    "NotifySettings",
    "WarmupSettings",
    "load_alerts_settings",
]

# Not the collector's id: sharing a client id makes the broker kick one of the two services.
DEFAULT_CLIENT_ID = "heatwatch-alerts"


class NotifySettings(ChannelSettings):
    """Channels, routes and message defaults (``alerts/notify/channels.py``), plus delivery."""

    retry: RetryPolicy = RetryPolicy()
    interval_s: float = Field(default=1.0, gt=0, description="how often the outbox is drained")
    breaker: BreakerPolicy = BreakerPolicy()
    fallback_receiver: str | None = Field(
        default=None, description="told (notification_failed) of every page given up")
    restart_backoff_s: float = Field(
        default=1.0, gt=0, le=30, description="wait before restarting a crashed delivery thread")

    @model_validator(mode="after")
    def _fallback_known(self) -> NotifySettings:
        names = self.receiver_names()
        if self.fallback_receiver is not None and self.fallback_receiver not in names:
            raise ValueError(f"fallback_receiver {self.fallback_receiver!r} is not a "
                             f"configured receiver; configured: {sorted(names)}")
        return self


class InboxSettings(BaseModel):
    """The engine's MQTT inbox (the collector's design): bounded, so a stalled engine leaves
    messages at the broker instead of in memory; a persistent session, so a restarted one
    gets what arrived meanwhile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_messages: int = Field(default=1000, ge=2, le=65535,
                              description="received, not yet observed (MQTT 5: Receive Maximum)")
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=65536,
                           description="payload bytes received, not yet observed")
    protocol: MqttProtocol = "3.1.1"
    session_expiry: int = Field(default=7 * 24 * 3600, ge=60, le=0xFFFFFFFF,
                                description="MQTT 5 only; 3.1.1: the broker's setting")


class MetricsSettings(BaseModel):
    """Prometheus endpoint of the service; port 0 turns it off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=9102, ge=0, le=65535)
    # Grafana reads InfluxDB, not Prometheus: counters are also copied there (0: off).
    selfstats_interval: float = Field(default=10.0, ge=0)


class WarmupSettings(BaseModel):
    """Warm-up of the engine's windows from InfluxDB at start (``alerts/warmup.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    lookback_s: float | None = Field(
        default=None, gt=0, le=86400,
        description="telemetry history to read; null = the longest rate-rule window",
    )
    latest_s: float = Field(default=3600.0, gt=0, description="search for latest flat/status")
    stuck_sensor: bool = Field(default=True, description="restore stuck_sensor run lengths")
    page: int = Field(default=1000, ge=1, le=100000, description="series per query")
    timeout_s: float = Field(default=30.0, gt=0, description="per query")


class EventTimeSettings(BaseModel):
    """``clock: event``: how the engine's "now" follows the readings' own timestamps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quorum: int = Field(
        default=3, ge=1, le=1000,
        description="now = the quorum-th latest of the stations' newest reading times",
    )
    max_catch_up: int = Field(
        default=1000, ge=1,
        description="evaluations run for one jump of event time; a longer jump skips ahead",
    )


class AlertsSettings(HeatwatchSettings):
    """Everything ``heatwatch alerts`` reads from its YAML file and ``HEATWATCH_*``."""

    mqtt_client_id = DEFAULT_CLIENT_ID
    mqtt: MqttSettings = MqttSettings.model_validate({"client_id": DEFAULT_CLIENT_ID})
    influx: InfluxSettings = InfluxSettings.model_validate({})
    rules: Path | None = None
    registry: Path | None = None
    state_db: Path = Path("run/alerts.db")
    evaluate_interval_s: float = Field(default=1.0, gt=0, le=60)
    clock: Literal["wall", "event"] = "wall"
    event_time: EventTimeSettings = EventTimeSettings()
    write_events: bool = True
    max_future_s: float = Field(default=300.0, gt=0)
    inbox: InboxSettings = InboxSettings()
    notifications: NotifySettings = NotifySettings()
    metrics: MetricsSettings = MetricsSettings()
    warmup: WarmupSettings = WarmupSettings()
    retention: RetentionSettings = RetentionSettings()
    comfort: DayCloseSettings = DayCloseSettings()  # comfort ledger days (docs/households.md)
    forecast: Path | None = None  # forecast input file (forecast/forecast.sample.yaml)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("rules", "registry", "forecast")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @model_validator(mode="after")
    def _v1_for_events(self) -> AlertsSettings:
        if self.write_events and self.influx.transport != "v1":
            raise ValueError(
                "write_events needs influx.transport v1 (the /write API; on InfluxDB 2.x set "
                "database to the bucket and token for its 1.x-compatible endpoint)"
            )
        return self

    @model_validator(mode="after")
    def _v1_for_comfort(self) -> AlertsSettings:
        if self.comfort.enabled and self.influx.transport != "v1":
            raise ValueError(
                "comfort.enabled writes comfort_day through the /write API: it needs "
                "influx.transport v1 (or set comfort.enabled: false)")
        return self

    @model_validator(mode="after")
    def _event_time_without_warmup(self) -> AlertsSettings:
        if self.clock == "event" and self.warmup.enabled:
            raise ValueError(
                "clock: event needs warmup.enabled: false (warm-up reads the history before "
                "'now', which in event time is not known until the first reading arrives)"
            )
        return self


def load_alerts_settings(path: Path | str | None = None, **overrides: Any) -> AlertsSettings:
    """Load and validate; raises :class:`heatwatch.settings.ConfigError` with key paths."""
    return load_settings(AlertsSettings, path, **overrides)
