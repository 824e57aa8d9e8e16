"""Rule configuration: pydantic models for ``alerts/rules.sample.yaml``, validated at start-up.

Per-zone and per-station overrides use the *same* models as the defaults; pydantic remembers
which keys a YAML block actually set (``model_fields_set``), and :meth:`RulesConfig.params_for`
layers only those keys: defaults <- zone <- station. So an override is type-checked exactly like
the default it replaces, there is no second "partial" schema to drift, and no raw dict survives
loading. Every combination is resolved once (cached), so per-reading work never merges configs.

The rules' blocks come from their declarations (:mod:`alerts.rules`): ``RuleSet`` has one field
per declared rule, its parameter model with its defaults, so a new rule needs no edit here.
The rules' parameter models are re-exported here for the callers that configure them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from alerts.params import (
    CurvePoint,
    FieldNames,
    HeatingSchedule,
    OffWindow,
    ParamsModel,
    RuleParams,
)
from alerts.rules import BY_NAME, RULES
from alerts.rules.outage import HeatingNotResumed, PumpStopped, StationOffline
from alerts.rules.pipeline_down import PipelineParams
from alerts.rules.plausible import OutOfRange
from alerts.rules.temperature import SupplyBelowCurve, ZoneCold
from heatwatch.settings import ConfigError

__all__ = [
    "CurvePoint",
    "FieldNames",
    "HeatingNotResumed",
    "HeatingSchedule",
    "InhibitRule",
    "OffWindow",
    "OutOfRange",
    "PipelineParams",
    "PumpStopped",
    "RuleParams",
    "RuleSet",
    "RuleSetBase",
    "RulesConfig",
    "StationOffline",
    "SupplyBelowCurve",
    "ZoneCold",
    "load_rules",
]


class RuleSetBase(ParamsModel):
    """What every :data:`RuleSet` has besides its rules' blocks (built from the declarations
    below, so mypy sees this class; ``SPEC.params(rules)`` is the typed way to a block)."""

    if TYPE_CHECKING:
        # a field of the built model, after the rules' blocks
        heating: HeatingSchedule = HeatingSchedule()

    def block(self, name: str) -> RuleParams:
        """A rule's parameters by name (a rule's own module uses ``SPEC.params(rules)``)."""
        params: RuleParams = getattr(self, name)
        return params

    def check(self) -> None:
        for name in type(self).model_fields:
            part: RuleParams | HeatingSchedule = getattr(self, name)
            part.check()


if TYPE_CHECKING:
    RuleSet = RuleSetBase
else:
    RuleSet = create_model(
        "RuleSet", __base__=RuleSetBase, __module__=__name__,
        __doc__="Parameters of every declared rule (a block per rule, in the rules' order, "
                "then ``heating``); also the shape of a zone or station override.",
        **{spec.name: (spec.model, spec.model()) for spec in RULES if spec.layered},
        heating=(HeatingSchedule, HeatingSchedule()),
    )


class InhibitRule(ParamsModel):
    """While a ``source`` alert fires, ``target`` alerts with equal subjects are not notified."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    same_station: bool = True


DEFAULT_INHIBIT = (
    InhibitRule(
        source=("station_offline", "pump_stopped"),
        target=("pressure_drop", "supply_below_curve", "return_above_supply",
                "heating_not_resumed"),
    ),
    InhibitRule(source=("pipeline_down",), target=("station_offline",), same_station=False),
    # a station that does not deliver explains its cold flats: its alert is the page, and it
    # lists them (alerts.engine); the flats' own alerts are recorded, not paged one by one
    InhibitRule(
        source=("station_offline", "power_loss", "pump_stopped", "heating_not_resumed",
                "supply_below_curve"),
        target=("flat_cold",),
    ),
)

M = TypeVar("M", bound=BaseModel)


def _layer(base: M, override: M) -> M:
    """Apply only the keys ``override`` set in YAML (recursively) and re-validate the result."""
    update: dict[str, Any] = {}
    for name in override.model_fields_set:
        value = getattr(override, name)
        current = getattr(base, name)
        if isinstance(value, BaseModel) and isinstance(current, BaseModel):
            update[name] = _layer(current, value)
        else:
            update[name] = value
    if not update:
        return base
    merged = {**{k: getattr(base, k) for k in type(base).model_fields}, **update}
    return type(base).model_validate(merged)


class RulesConfig(ParamsModel):
    """The whole rules file."""

    defaults: RuleSet = RuleSet()
    zones: dict[str, RuleSet] = Field(default_factory=dict)
    stations: dict[str, RuleSet] = Field(default_factory=dict)
    pipeline: PipelineParams = PipelineParams()
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT
    fields: FieldNames = FieldNames()
    history_len: int = Field(default=120, ge=4, le=10000, description="samples per rate field")
    full_sweep_s: float = Field(default=60.0, gt=0, description="re-check all stations")
    repeat_interval_s: float = Field(default=14400.0, ge=0, description="0 = never")

    @model_validator(mode="after")
    def _resolve_all(self) -> RulesConfig:
        # Check every combination now, so a bad layering fails at start-up, not at 3 a.m.
        combos: list[tuple[str | None, str | None]] = [(None, None)]
        combos += [(zone, None) for zone in self.zones]
        combos += [(zone, st) for zone in (None, *self.zones) for st in self.stations]
        for zone, station in combos:
            where = ".".join(
                p for p in (f"zones.{zone}" if zone else "", f"stations.{station}" if station
                            else "") if p
            ) or "defaults"
            try:
                self._merge(zone, station).check()
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
        return self

    def _merge(self, zone: str | None, station: str | None) -> RuleSet:
        out = self.defaults
        if zone is not None and zone in self.zones:
            out = _layer(out, self.zones[zone])
        if station is not None and station in self.stations:
            out = _layer(out, self.stations[station])
        return out

    @cached_property
    def _cache(self) -> dict[tuple[str, str | None], RuleSet]:
        return {}

    def _sets(self) -> tuple[RuleSet, ...]:
        """The defaults and every override as written: an override's value, when set,
        replaces the default's, so a union over these covers every layered combination."""
        return (self.defaults, *self.zones.values(), *self.stations.values())

    def watched_fields(self) -> frozenset[str]:
        """Every telemetry field some rule can read under some zone/station: the field names,
        plus what each rule declares it reads (``reads``: ``stuck_sensor.fields``, the
        ``out_of_range`` range keys, ...) and the fields it keeps rates of. The engine keeps
        nothing else per station."""
        out = set(self.fields.model_dump().values())
        for rs in self._sets():
            for spec in RULES:
                if spec.layered:
                    out.update(spec.reads(rs, self.fields))
                    out.update(spec.rates(rs, self.fields))
        return frozenset(out)

    def rate_fields(self) -> frozenset[str]:
        """The fields some rule keeps recent samples of (``rates``) under some zone/station:
        the engine keeps a ring of ``history_len`` samples of each per station."""
        return frozenset(name for rs in self._sets() for spec in RULES if spec.layered
                         for name in spec.rates(rs, self.fields))

    def rate_window_s(self) -> float:
        """The longest look-back of a rate rule (``lookback``) under any zone/station."""
        spans = (spec.lookback(rs) for rs in self._sets() for spec in RULES
                 if spec.layered and spec.lookback is not None)
        return max((s for s in spans if s is not None), default=0.0)

    def defaults_of(self, name: str) -> RuleParams:
        """A declared rule's default parameters: its ``defaults`` block, or its top-level
        section for a rule with one global setting (``pipeline_down``)."""
        section = BY_NAME[name].section
        if section is None:
            return self.defaults.block(name)
        params: RuleParams = getattr(self, section)
        return params

    def params_for(self, zone: str, station: str | None = None) -> RuleSet:
        """Effective parameters for a station (or a zone when ``station`` is None)."""
        key = (zone, station if station in self.stations else None)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._merge(*key)
        return found


def load_rules(path: Path | str | None) -> RulesConfig:
    """Read and validate a rules file; errors name the dotted key and the file."""
    if path is None:
        return RulesConfig()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read rules file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: rules file is not valid YAML: {exc}") from exc
    try:
        return RulesConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError(f"invalid rules file {p}:\n" + "\n".join(lines)) from exc
