"""The shipped rules, one module per family.

Station rules run per station with new data; ``station_offline`` (time-driven),
``zone_cold`` (per zone) and ``pipeline_down`` (global) are driven by the engine directly
because their input is not one station's window.
"""

from __future__ import annotations

from alerts.rules.base import StationRule
from alerts.rules.leak import MakeupSurgeRule, PressureDropRule, TankDrainingRule
from alerts.rules.outage import HeatingNotResumedRule, PowerLossRule, PumpStoppedRule
from alerts.rules.sensor import OutOfRangeRule, ReturnAboveSupplyRule, StuckSensorRule
from alerts.rules.temperature import SupplyBelowCurveRule

__all__ = ["FAMILIES", "STATION_RULES", "StationRule"]

STATION_RULES: tuple[StationRule, ...] = (
    PowerLossRule(),
    PumpStoppedRule(),
    MakeupSurgeRule(),
    PressureDropRule(),
    TankDrainingRule(),
    SupplyBelowCurveRule(),
    StuckSensorRule(),
    OutOfRangeRule(),
    ReturnAboveSupplyRule(),
    HeatingNotResumedRule(),
)

FAMILIES: dict[str, str] = {
    "station_offline": "outage",
    "zone_cold": "under_temperature",
    "pipeline_down": "pipeline",
    **{rule.name: rule.family for rule in STATION_RULES},
}
