"""``heatwatch api`` settings: the shared ``influx``/``mqtt`` blocks plus the API's own.

``api/api.sample.yaml`` is the commented reference for every key here. The rules that matter for
safety are enforced at load time, not at the first request: outside ``dev_mode`` at least one API
key must be configured and none is built in; ``dev_mode`` is refused on anything but loopback, so a
forgotten development switch cannot expose an open admin key to the network.
"""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heatwatch.settings import HeatwatchSettings, InfluxSettings, MqttSettings, load_settings

__all__ = [
    "DEV_KEY",
    "ApiKey",
    "ApiSettings",
    "AuthLimitSettings",
    "BacktestSettings",
    "CacheSettings",
    "ReadinessSettings",
    "Role",
    "ServerSettings",
    "load_api_settings",
]

# The one well-known key, accepted only with dev_mode: true (and then only on loopback).
DEV_KEY = "heatwatch-dev-admin-key"
DEFAULT_CLIENT_ID = "heatwatch-api"


class Role(enum.IntEnum):
    """Ordered roles: a key may do everything a lower role may do."""

    VIEWER = 1
    HOTLINE = 2  # a heating hotline operator: reads, and takes complaints
    CREW = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKey(_Block):
    """One API key, stored as the SHA-256 of the key (``heatwatch api hash-key`` makes both)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="who holds the key")
    role: str = Field(pattern=r"^(viewer|hotline|crew|admin)$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def level(self) -> Role:
        return Role[self.role.upper()]


class ServerSettings(_Block):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    root_path: str = ""


class CacheSettings(_Block):
    """How long fleet-wide InfluxDB answers are reused: one query serves every client."""

    fleet_ttl_s: float = Field(default=5.0, ge=0, le=300)
    max_stale_s: float = Field(
        default=120.0, gt=0, description="serve an old snapshot while refreshing, up to this age"
    )
    fleet_query_timeout_s: float = Field(
        default=60.0, gt=0, description="the fleet query takes seconds on a big fleet"
    )
    ready_wait_s: float = Field(
        default=0.5, ge=0, le=120,
        description="how long a request waits for a snapshot being built (after a start, or "
        "when the last is older than max_stale_s) before it gets 503 with Retry-After",
    )
    lookback_s: float = Field(
        default=86400.0, gt=0, description="how far back 'last reading' and flat temperatures look"
    )
    offline_intervals: float = Field(
        default=3.0, gt=0, description="missed reporting intervals before a station is offline"
    )
    offline_min_s: float = Field(default=60.0, gt=0)


class BacktestSettings(_Block):
    """Bounds of ``POST /rules/backtest``: it replays stored readings through the engine in the
    API process, so a request must stay small; long or fleet-wide runs belong to
    ``heatwatch rules backtest``."""

    max_period_s: float = Field(default=7 * 86400.0, gt=0, description="one station")
    max_wide_period_s: float = Field(default=86400.0, gt=0, description="a zone or the fleet")
    query_timeout_s: float = Field(default=60.0, gt=0)


class HistorySettings(_Block):
    """``GET /stations/{id}/history`` on long ranges reads the hourly aggregates (retention
    policy ``hourly_policy``, filled by continuous queries: heatwatch.retention), which outlive
    the raw readings; short ranges and sub-hour resolutions read the raw readings."""

    hourly_policy: str | None = Field(default="hourly", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                                      description="null: always read raw readings")
    hourly_after_s: float = Field(default=7 * 86400.0, ge=0, description=(
        "ranges longer than this, at a whole-hour resolution, read the hourly policy"))


class ReadinessSettings(_Block):
    """``/readyz`` is public: one probe of each dependency serves every call for ``cache_s``,
    so a flood of probes cannot make the API log in to the broker (or query InfluxDB) per call."""

    cache_s: float = Field(default=10.0, ge=0, le=300)
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="per dependency probe")


class AuthLimitSettings(_Block):
    """Wrong API keys per client address: after ``max_failures`` within ``window_s`` the
    address gets 429 (even with a right key) until its oldest failure leaves the window."""

    max_failures: int = Field(default=10, ge=1)
    window_s: float = Field(default=60.0, gt=0, le=86400)
    max_clients: int = Field(
        default=10_000, ge=1, description="addresses remembered; the oldest are forgotten"
    )


class ApiSettings(HeatwatchSettings):
    """Everything ``heatwatch api`` reads from its YAML file and ``HEATWATCH_*``."""

    mqtt_client_id = DEFAULT_CLIENT_ID
    mqtt: MqttSettings = MqttSettings.model_validate({"client_id": DEFAULT_CLIENT_ID})
    influx: InfluxSettings = InfluxSettings.model_validate({})
    server: ServerSettings = ServerSettings()
    cache: CacheSettings = CacheSettings()
    backtest: BacktestSettings = BacktestSettings()
    history: HistorySettings = HistorySettings()
    readiness: ReadinessSettings = ReadinessSettings()
    auth: AuthLimitSettings = AuthLimitSettings()
    alerts_db: Path = Path("run/alerts.db")
    registry: Path | None = None
    rules: Path | None = None
    comfort: Path | None = None  # comfort ledger YAML (households/comfort.sample.yaml)
    keys: tuple[ApiKey, ...] = ()
    dev_mode: bool = False
    cold_c: float = Field(default=18.0, ge=0, le=30, description="indoor standard, °C")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @model_validator(mode="after")
    def _safe(self) -> ApiSettings:
        if self.dev_mode:
            if not _is_loopback(self.server.host):
                raise ValueError(
                    f"dev_mode accepts a well-known admin key, so it only binds to loopback, "
                    f"not {self.server.host!r}"
                )
        elif not self.keys:
            raise ValueError(
                "no API keys configured: add keys (make one with 'heatwatch api hash-key') "
                "or set dev_mode: true on a development machine"
            )
        hashes = [k.sha256 for k in self.keys]
        if len(set(hashes)) != len(hashes):
            raise ValueError("two keys have the same sha256")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_api_settings(path: Path | str | None = None, **overrides: Any) -> ApiSettings:
    """Load and validate; raises :class:`heatwatch.settings.ConfigError` naming the key."""
    return load_settings(ApiSettings, path, **overrides)
