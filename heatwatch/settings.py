"""Settings shared by every service: one YAML file plus ``HEATWATCH_*`` environment overrides.

Each service declares a ``BaseSettings`` subclass built from the blocks below and loads it with
:func:`load_settings` when it starts (never at import time), so a bad file or variable is reported
once, precisely, before anything connects anywhere.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "CLIENT_ID_MAX",
    "ClientId",
    "ConfigError",
    "HeatwatchSettings",
    "InfluxSettings",
    "MqttProtocol",
    "MqttSettings",
    "ReconnectDelay",
    "check_client_id",
    "derived_client_id",
    "load_settings",
]

ENV_PREFIX = "HEATWATCH_"
ENV_NESTED = "__"


class ConfigError(ValueError):
    """A configuration file or variable is wrong; the message says where and why."""


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CLIENT_ID_MAX = 128


def check_client_id(value: str) -> str:
    """The one rule for every MQTT client id heatwatch connects with (settings, a simulator
    gateway's, the API's readiness probe's). Control characters are refused because MQTT
    forbids U+0000 and lets a broker drop a connection over the others; the length bound keeps
    derived ids (``<id>-<suffix>``) short."""
    if not value:
        raise ValueError("an MQTT client id must not be empty (a persistent session needs a "
                         "fixed one)")
    if len(value) > CLIENT_ID_MAX:
        raise ValueError(f"an MQTT client id has at most {CLIENT_ID_MAX} characters, "
                         f"not {len(value)}")
    for i, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            raise ValueError(f"an MQTT client id must not contain control characters "
                             f"(U+{ord(char):04X} at position {i})")
    return value


ClientId = Annotated[str, AfterValidator(check_client_id)]
#: 3.1.1 (the default: paho decodes MQTT 5 properties on every message) or 5.
MqttProtocol = Literal["3.1.1", "5"]
ReconnectDelay = Annotated[float, Field(gt=0)]


def derived_client_id(base: str, suffix: str) -> str:
    """``<base>-<suffix>`` for a second connection beside a service's own (a simulator gateway,
    a readiness probe): never equal to ``base`` (the broker would drop the older of two equal
    ids), and ``base`` shortened if needed so the result still passes :func:`check_client_id`."""
    return check_client_id(f"{base[:CLIENT_ID_MAX - len(suffix) - 1]}-{suffix}")


class MqttSettings(_Block):
    """How to reach the broker; :func:`heatwatch.mqtt.make_client` applies all of it."""

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
    client_id: ClientId = "heatwatch"
    reconnect_min_delay: ReconnectDelay = 0.5
    reconnect_max_delay: ReconnectDelay = 30.0

    @model_validator(mode="after")
    def _check_delays(self) -> MqttSettings:
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be >= reconnect_min_delay")
        return self


class InfluxSettings(_Block):
    """How to reach InfluxDB, for every service (:mod:`heatwatch.influx` is the one client).

    ``transport`` picks the write API: ``v1`` is 1.x's ``/write`` into ``database``; ``v2`` is
    ``/api/v2/write`` into ``bucket`` of ``org`` (2.x, 3.x). Queries are InfluxQL either way
    (2.x: the bucket's DBRP mapping). A ``token`` is sent as ``Authorization: Token`` (and
    wins); else ``username``/``password`` as basic auth (1.x)."""

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

    def overridden(self, url: str | None = None, database: str | None = None
                   ) -> InfluxSettings:
        """This block with a command line's ``--influx-url``/``--database`` (None: keep),
        validated again."""
        update = {k: v for k, v in (("url", url), ("database", database)) if v is not None}
        return InfluxSettings.model_validate({**self.model_dump(), **update}) if update else self


class HeatwatchSettings(BaseSettings):
    """Base for every service's settings: YAML file first, environment variables on top."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid", frozen=True
    )

    #: A service's own MQTT client id, for an ``mqtt`` block (file or environment) that names
    #: none: never the generic ``heatwatch``, since two services with one id would keep
    #: kicking each other off the broker. The ``mqtt`` field's default carries it too.
    mqtt_client_id: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _own_client_id(cls, data: Any) -> Any:
        if cls.mqtt_client_id is not None and isinstance(data, dict):
            mqtt = data.get("mqtt")
            if isinstance(mqtt, dict) and "client_id" not in mqtt:
                data = {**data, "mqtt": {**mqtt, "client_id": cls.mqtt_client_id}}
        return data

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
