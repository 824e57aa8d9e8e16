"""What the data says about a hotline complaint, at once, in Chinese and English.

The hotline operator has the resident on the line: they need one sentence, not a dashboard.
The flat's own sensor says cold (now, and for how many of the last 24 hours) or warm; the
station's supply against its reference says whether the heat leaves the station; open alerts
say whether someone already works on it. From those: a cold flat behind a normal station is a
building-side problem for a crew; behind a station that under-delivers, the station's fault.

A verdict never closes a complaint. A warm sensor may hang in the wrong room, a flat may have
no sensor at all: the ticket stays open until a crew has been there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from households.ledger import LedgerParams, Sample, tally

__all__ = [
    "CAUSES",
    "FINDINGS",
    "SUPPLY_RULES",
    "Evidence",
    "OpenAlert",
    "StationSupply",
    "Verdict",
    "judge",
]

FINDINGS = ("cold", "warm", "no_sensor", "no_data")
# Open alerts that mean the heat does not leave the station (or the zone's network): a cold
# flat behind one of them is the station's problem. Sensor and leak alerts are listed in the
# verdict but do not say the supply is short.
SUPPLY_RULES = frozenset({"station_offline", "power_loss", "pump_stopped", "heating_not_resumed",
                          "supply_below_curve", "pressure_drop", "zone_cold"})
CAUSES = ("station", "building", "unknown", "none")
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class StationSupply:
    """The station's latest secondary supply against the reference ``supply_below_curve``
    uses (setpoint or curve); ``delivering`` False: the station is idle."""

    supply_c: float | None
    reference_c: float | None
    tolerance_k: float = 5.0
    delivering: bool | None = None

    @property
    def normal(self) -> bool | None:
        """True: delivering to its reference; False: idle or short; None: cannot tell."""
        if self.delivering is False:
            return False
        if self.supply_c is None or self.reference_c is None:
            return None
        return self.supply_c >= self.reference_c - self.tolerance_k


@dataclass(frozen=True, slots=True)
class OpenAlert:
    rule: str
    scope: str  # "flat" | "station" | "zone"
    subject: str
    severity: str


@dataclass(frozen=True, slots=True)
class Evidence:
    now: float
    has_sensor: bool  # the registry lists a sensor for the flat
    samples: Sequence[Sample]  # the flat's indoor readings, at least [now - 24 h - max_gap, now]
    station: StationSupply | None  # None: no station reading
    alerts: Sequence[OpenAlert] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    finding: str  # FINDINGS
    cause: str  # CAUSES
    temp_c: float | None
    hours_below_24h: float | None
    station_normal: bool | None
    alerts: tuple[str, ...]
    text_en: str
    text_zh: str


def judge(evidence: Evidence, params: LedgerParams | None = None, *,
          max_age_s: float = 1800.0) -> Verdict:
    """The verdict on one complaint from the evidence gathered for it.

    ``max_age_s``: the newest reading older than this is not "now" (finding ``no_data``).
    """
    p = params or LedgerParams()
    e = evidence
    alerts = tuple(f"{a.rule}@{a.subject}" for a in e.alerts)
    station_alerts = [a for a in e.alerts if a.scope in ("station", "zone")
                      and a.rule in SUPPLY_RULES]
    normal = e.station.normal if e.station is not None else None
    if station_alerts:
        normal = False
    recent = sorted(s for s in e.samples if s[0] <= e.now)
    latest = recent[-1] if recent else None
    fresh = latest is not None and e.now - latest[0] <= max_age_s
    hours = None
    if recent:
        t = tally(recent, e.now - DAY_S, e.now, p)
        hours = t.hours_below if t.hours_data > 0 else None
    temp = latest[1] if latest is not None and fresh else None
    if not e.has_sensor:
        finding = "no_sensor"
    elif temp is None:
        finding = "no_data"
    elif temp < p.standard_c:
        finding = "cold"
    else:
        finding = "warm"
    if normal is False:
        cause = "station"
    elif finding == "cold" and normal:
        cause = "building"
    elif finding == "warm":
        cause = "none"
    else:
        cause = "unknown"
    en, zh = _texts(finding, cause, temp, hours, normal, station_alerts, p.standard_c)
    return Verdict(finding, cause, temp, hours, normal, alerts, en, zh)


def _texts(finding: str, cause: str, temp: float | None, hours: float | None,
           normal: bool | None, station_alerts: Sequence[OpenAlert], standard: float,
           ) -> tuple[str, str]:
    """(English, Chinese): finding, then the station, then what happens to the ticket."""
    std = f"{standard:g} °C"
    hrs = f"{hours:.0f}" if hours is not None else None
    if finding == "cold":
        en = [f"confirmed: {temp:.1f} °C"]
        zh = [f"属实：室温 {temp:.1f} °C"]
        if hrs is not None:
            en[0] += f", {hrs} h under {std} in the last 24 h"
            zh[0] += f"，近24小时有 {hrs} 小时低于 {std}"
    elif finding == "warm":
        en = [f"sensor shows warm: {temp:.1f} °C"]
        zh = [f"传感器显示室温正常：{temp:.1f} °C"]
        if hours:
            en[0] += f" ({hrs} h under {std} in the last 24 h)"
            zh[0] += f"（近24小时有 {hrs} 小时低于 {std}）"
    elif finding == "no_sensor":
        en, zh = ["no sensor in this flat"], ["该户未安装室温传感器"]
    else:
        en, zh = ["no recent reading from the flat's sensor"], ["该户室温传感器近期无数据"]
    if station_alerts:
        names = ", ".join(sorted({a.rule for a in station_alerts}))
        en.append(f"station fault known ({names})")
        zh.append(f"换热站故障已知（{names}）")
    elif normal is True:
        en.append("station normal")
        zh.append("换热站供热正常")
    elif normal is False:
        en.append("station supply under its reference")
        zh.append("换热站供水温度低于设定")
    else:
        en.append("station state unknown")
        zh.append("换热站状态未知")
    if cause == "station" and station_alerts:
        en.append("station-side problem, being handled; ticket stays open")
        zh.append("属换热站问题，正在处理；工单保持开启")
    elif cause == "station":  # short or idle, but no alert (yet): someone must look at it
        en.append("station-side problem, station check requested; ticket stays open")
        zh.append("属换热站问题，已申请检查换热站；工单保持开启")
    elif cause == "building":
        en.append("building-side problem, crew visit requested")
        zh.append("属楼内问题，已申请维修人员上门")
    else:
        en.append("ticket open for a crew visit")
        zh.append("工单已开启，待维修人员上门核实")
    return ", ".join(en[:2]) + ": " + en[2], "；".join(zh)
