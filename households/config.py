"""The comfort ledger's settings: the standard, the refund bands and the fees.

One small YAML file (reference: ``households/comfort.sample.yaml``), read by the alert engine
(which closes the days), the API and ``heatwatch report comfort``; no file means the shipped
defaults, the Shenyang rule. The day's time zone is not set here: it is the zone's
``heating.timezone`` in the rules file, the same clock the night setback runs on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from heatwatch.registry import ID_PATTERN
from heatwatch.settings import ConfigError
from households.ledger import DEFAULT_BANDS, LedgerParams, RefundBand

__all__ = ["ComfortConfig", "DayCloseSettings", "load_comfort"]

Fee = Annotated[float, Field(ge=0, le=1000)]


class ComfortConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ledger: LedgerParams = LedgerParams()
    bands: tuple[RefundBand, ...] = DEFAULT_BANDS
    # The heating fee per m² and day: a season's fee per m² divided by the season's days.
    fee_per_m2_day: Fee = 0.0
    zone_fees: dict[Annotated[str, Field(pattern=ID_PATTERN)], Fee] = {}
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")

    @field_validator("bands")
    @classmethod
    def _distinct(cls, bands: tuple[RefundBand, ...]) -> tuple[RefundBand, ...]:
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be distinct")
        limits = [b.below_c for b in bands]
        if len(set(limits)) != len(limits):
            raise ValueError("two bands with the same below_c")
        return bands

    def fee(self, zone: str) -> float:
        """Fee per m² and day in ``zone``."""
        return self.zone_fees.get(zone, self.fee_per_m2_day)


class DayCloseSettings(BaseModel):
    """``comfort:`` in the alerts service settings: closing each zone's local day into
    ``comfort_day`` points (:mod:`households.closer`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    file: Path | None = Field(default=None, description="comfort YAML; none: the defaults")
    grace_s: float = Field(default=900.0, ge=0, le=86400,
                           description="close a day this long after local midnight")
    catch_up_days: int = Field(default=2, ge=1, le=400,
                               description="closed days (re)computed after a start")
    check_interval_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value


def load_comfort(path: Path | str | None) -> ComfortConfig:
    """Read and validate; errors name the key and the file (:class:`ConfigError`)."""
    if path is None:
        return ComfortConfig()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read comfort file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: comfort file is not valid YAML: {exc}") from exc
    try:
        return ComfortConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError(f"invalid comfort file {p}:\n" + "\n".join(lines)) from exc
