"""The collector's settings: the shared ``mqtt`` and ``influx`` blocks plus the collector's own.

``collector/collector.sample.yaml`` is the commented reference for every key here; a test keeps
the two in step. Everything is validated when the collector starts, so a typo fails fast with the
dotted key path instead of surfacing as lost readings hours later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from heatwatch.settings import (
    HeatwatchSettings,
    InfluxSettings,
    MqttProtocol,
    MqttSettings,
    load_settings,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "BatchSettings",
    "CollectorSettings",
    "DeadLetterSettings",
    "MetricsSettings",
    "SpoolSettings",
    "SubscriptionSettings",
    "ValidationSettings",
    "load_collector_settings",
]

# A persistent session is keyed by client id: a collector sharing the generic default
# "heatwatch" with another service would steal (and discard) that service's session.
DEFAULT_CLIENT_ID = "heatwatch-collector"
_GROUP_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchSettings(_Block):
    """How readings are grouped into one write, and how many unacked messages we allow."""

    size: int = Field(default=10_000, ge=1, le=1_000_000)
    flush_interval: float = Field(default=0.5, gt=0, le=60)
    receive_maximum: int = Field(default=4000, ge=2, le=65535)
    max_queued_bytes: int = Field(default=16 * 1024 * 1024, ge=65536)


class SubscriptionSettings(_Block):
    """The persistent MQTT session: how long the broker keeps it, and optional load sharing."""

    # 3.1.1 (clean session off) or 5 (clean start off + session expiry); see the sample file.
    protocol: MqttProtocol = "3.1.1"
    session_expiry: int = Field(default=7 * 24 * 3600, ge=60, le=0xFFFFFFFF)
    shared_group: str | None = Field(default=None, pattern=_GROUP_PATTERN)
    # auto: on, except in a shared group (where each collector sees only part of a station's seq)
    seq_accounting: Literal["auto", "on", "off"] = "auto"

    @property
    def counts_seq(self) -> bool:
        if self.seq_accounting == "auto":
            return self.shared_group is None
        return self.seq_accounting == "on"


class ValidationSettings(_Block):
    """Limits passed to the wire decoder."""

    max_payload: int = Field(default=65536, ge=256)
    max_future_s: float = Field(default=300.0, gt=0)
    # Not applied by ``heatwatch import``, the way to load history (collector/importer.py).
    max_past_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    max_extra_fields: int = Field(default=50, ge=0, le=10_000)
    max_extra_names: int = Field(default=100, ge=0, le=100_000)


class SpoolSettings(_Block):
    """The on-disk spool that keeps readings while InfluxDB is down or slow."""

    dir: Path = Path("run/collector-spool")
    max_bytes: int = Field(default=1 << 30, ge=64 * 1024)
    segment_bytes: int = Field(default=16 << 20, ge=4096)
    alarm_ratio: float = Field(default=0.8, gt=0, le=1)
    retry_min_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> SpoolSettings:
        if self.segment_bytes > self.max_bytes:
            raise ValueError("segment_bytes must be <= max_bytes")
        if self.retry_max_delay < self.retry_min_delay:
            raise ValueError("retry_max_delay must be >= retry_min_delay")
        return self


class DeadLetterSettings(_Block):
    """Where rejected readings and lines InfluxDB refuses go; at least one must be on."""

    file: Path | None = Path("run/collector-rejected.jsonl")
    publish: bool = True
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    keep: int = Field(default=10, ge=0)

    @model_validator(mode="after")
    def _somewhere(self) -> DeadLetterSettings:
        if self.file is None and not self.publish:
            raise ValueError("dead_letter needs a file or publish: true (never drop silently)")
        return self


class MetricsSettings(_Block):
    host: str = "127.0.0.1"
    port: int = Field(default=9101, ge=0, le=65535)
    log_interval: float = Field(default=60.0, gt=0)
    # Grafana reads InfluxDB, not Prometheus: the counters are also stored there.
    selfstats_interval: float = Field(default=10.0, ge=0)


class CollectorSettings(HeatwatchSettings):
    """Everything ``heatwatch collect`` reads from its YAML file and ``HEATWATCH_*``."""

    # model_validate: the shared blocks declare defaults positionally, which mypy cannot see.
    mqtt_client_id = DEFAULT_CLIENT_ID
    mqtt: MqttSettings = MqttSettings.model_validate({"client_id": DEFAULT_CLIENT_ID})
    influx: InfluxSettings = InfluxSettings.model_validate({})
    batch: BatchSettings = BatchSettings()
    subscription: SubscriptionSettings = SubscriptionSettings()
    validation: ValidationSettings = ValidationSettings()
    # Station registry YAML; None means every station is stored under zone "unassigned".
    registry: Path | None = None
    spool: SpoolSettings = SpoolSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("registry")
    @classmethod
    def _registry_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"station registry file {value} does not exist")
        return value


def load_collector_settings(path: Path | str | None = None, **overrides: Any) -> CollectorSettings:
    """Load and validate; raises :class:`heatwatch.settings.ConfigError` with precise messages."""
    return load_settings(CollectorSettings, path, **overrides)
