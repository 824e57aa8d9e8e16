"""Settings shared by every service: one YAML file plus ``HEATWATCH_*`` environment overrides.

Each service declares a ``BaseSettings`` subclass built from the blocks below and loads it with
:func:`load_settings` when it starts (never at import time), so a bad file or variable is reported
once, precisely, before anything connects anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "ConfigError",
    "HeatwatchSettings",
    "InfluxSettings",
    "MqttSettings",
    "load_settings",
]

ENV_PREFIX = "HEATWATCH_"
ENV_NESTED = "__"


class ConfigError(ValueError):
    """A configuration file or variable is wrong; the message says where and why."""


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Block):
    """How to reach the broker."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    prefix: str = Field(default="heat", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    client_id: str = Field(default="heatwatch", min_length=1, max_length=128)
    reconnect_min_delay: float = Field(default=0.5, gt=0)
    reconnect_max_delay: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _check_delays(self) -> MqttSettings:
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be >= reconnect_min_delay")
        return self


class InfluxSettings(_Block):
    """Where readings go. ``v1`` is the InfluxDB 1.x /write API; ``v2`` is influxdb-client."""

    transport: Literal["v1", "v2"] = "v1"
    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="heatwatch", min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    org: str | None = None
    bucket: str | None = None
    token: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check_v2(self) -> InfluxSettings:
        if self.transport == "v2":
            missing = [n for n in ("org", "bucket", "token") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"transport v2 needs {', '.join(missing)}")
        return self


class HeatwatchSettings(BaseSettings):
    """Base for every service's settings: YAML file first, environment variables on top."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid", frozen=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (init_settings carries the file's content).
        return env_settings, init_settings


S = TypeVar("S", bound=HeatwatchSettings)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where (line, column), without PyYAML's snippet of the line itself:
    config files hold passwords and tokens, and error messages end up in logs and tickets."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = []
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
            if text:
                where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                parts.append(f"{text}{where}")
        return "; ".join(parts) or "syntax error"
    return exc.__class__.__name__


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Not chained (``from None``): the YAMLError's text quotes the offending line, which in
        # a config file is often the one with the password in it.
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return data


def load_settings(cls: type[S], path: Path | str | None = None, **overrides: Any) -> S:
    """Build ``cls`` from an optional YAML file, ``HEATWATCH_*`` variables and overrides.

    Errors name the offending key as a dotted path and the file it came from.
    """
    data: dict[str, Any] = {}
    source = "defaults and environment"
    if path is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        path = os.environ[f"{ENV_PREFIX}CONFIG"]
    if path is not None:
        data = _read_yaml(Path(path))
        source = str(path)
    data.update(overrides)
    try:
        settings = cls(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            env = ENV_PREFIX + ENV_NESTED.join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {where}: {err['msg']} (or env {env})")
        # Not chained: pydantic's own text quotes every rejected input (``input_value=...``),
        # e.g. a password under a misspelt key; ours names key paths and reasons only.
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines)) from None
    placeholders = list(_placeholder_secrets(settings, ()))
    if placeholders:
        lines = [f"  {'.'.join(loc)}: still a change-me placeholder; set a real secret "
                 f"(or env {ENV_PREFIX + ENV_NESTED.join(loc).upper()})" for loc in placeholders]
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines))
    return settings


PLACEHOLDER_PREFIX = "change-me"


def _placeholder_secrets(value: Any, loc: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Key paths of secrets still set to a ``change-me...`` placeholder (as sample files and
    old ``.env.example`` files had them): a service must not start with a password everyone
    who read the sample knows."""
    if isinstance(value, SecretStr):
        if value.get_secret_value().strip().lower().startswith(PLACEHOLDER_PREFIX):
            yield loc
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _placeholder_secrets(getattr(value, name), (*loc, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholder_secrets(item, (*loc, str(key)))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _placeholder_secrets(item, (*loc, str(i)))
