"""What ``heatwatch rules calibrate`` writes: a reviewable ``stations:`` rules block.

Each learned value goes onto the rule parameter that uses it (``heating`` windows, the
calibrated curve, ``station_offline.min_timeout_s``, ...); what no rule reads is written as a
comment, so an engineer reviewing the file sees what the data said and why each value is there.
The file is validated with the same model the engine loads (:class:`alerts.config.RulesConfig`)
before it is written: a calibration that the engine would refuse is a bug, not an output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.calibrate import OFFLINE_CATCH_S, Calibration
from alerts.config import RulesConfig, RuleSet
from alerts.rules.leak import MAKEUP_SURGE
from alerts.rules.outage import PUMP_STOPPED, STATION_OFFLINE
from heatwatch.settings import ConfigError

__all__ = ["merged_rules", "override", "render", "validate"]

class _Time(str):
    """A time of day, always written quoted: YAML 1.1 reads an unquoted 22:00 as 1320."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Time, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", str(v), style='"'))


def _day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d")


def offline_timeout(interval_s: float, intervals: float) -> float:
    """Several normal intervals of silence, but short enough that a two-hour gap still
    fires (half an interval of margin for jitter), and never under a minute."""
    timeout = min(intervals * interval_s, OFFLINE_CATCH_S - interval_s / 2)
    return float(max(60.0, round(timeout)))


def override(cal: Calibration, base: RuleSet, timezone: str,
             registry_interval_s: float = 10.0) -> dict[str, Any]:
    """The station's override block: only what calibration learned.

    ``registry_interval_s`` is the station's ``report_interval_s`` in the registry (10 s for
    a station it does not list): ``station_offline`` waits the longer of ``intervals`` times
    that and ``min_timeout_s``, so the learned timeout is written as both, or a registry that
    says "hourly" would stretch it back to three hours and two-hour gaps would pass unseen."""
    heating: dict[str, Any] = {"timezone": timezone}
    if cal.off_windows or cal.heating_nights:
        heating["off_windows"] = [{"start": _Time(f"{w.start:%H:%M}"),
                                   "end": _Time(f"{w.end:%H:%M}")} for w in cal.off_windows]
    if cal.warmup_s is not None:
        heating["warmup_s"] = cal.warmup_s
    if cal.delivering_kw is not None and cal.delivering_kw > base.heating.delivering_kw:
        # Only ever raised: a heat meter holds its last power for a while after a switch-off,
        # so a threshold under the default would count that coasting as heat delivered.
        heating["delivering_kw"] = round(cal.delivering_kw, 1)
    if cal.dt_k is not None and cal.dt_k[0] < 2 * base.heating.delivering_dt_k:
        # A station that runs on a small difference is still delivering at half its low.
        heating["delivering_dt_k"] = round(max(0.5, cal.dt_k[0] / 2), 1)
    if cal.setback is not None:
        heating["setback_start"] = _Time(f"{cal.setback.window.start:%H:%M}")
        heating["setback_end"] = _Time(f"{cal.setback.window.end:%H:%M}")
        heating["setback_k"] = cal.setback.k
    curve: dict[str, Any] = {"calibrated_curve": [
        {"outdoor_c": x, "supply_c": y} for x, y in cal.curve.points]}
    out: dict[str, Any] = {"heating": heating, "supply_below_curve": curve}
    if cal.interval_s is not None:
        timeout = offline_timeout(cal.interval_s, STATION_OFFLINE.params(base).intervals)
        out["station_offline"] = {
            "intervals": round(timeout / registry_interval_s, 4), "min_timeout_s": timeout}
    if cal.dt_k is not None:
        # "Collapsed" is relative to the station's own low normal, not a fleet constant.
        dt_min = round(max(0.5, cal.dt_k[0] / 2), 1)
        if dt_min < PUMP_STOPPED.params(base).dt_min:
            out["pump_stopped"] = {"dt_min": dt_min}
    if cal.makeup_ratio is not None:
        ratio = round(2 * cal.makeup_ratio[1], 4)
        if ratio > MAKEUP_SURGE.params(base).ratio:  # a known, tolerated small loss
            out["makeup_surge"] = {"ratio": min(ratio, 0.5),
                                   "recover_ratio": round(min(ratio, 0.5) * 0.75, 4)}
    return out


def _comments(cal: Calibration) -> list[str]:
    c = cal.curve
    lines = [
        f"{cal.station}: learned from {_day(cal.start)} to {_day(cal.end)} (UTC)",
        f"curve: {c.samples} readings in {c.hours} heating-hours, RMSE {c.rmse:.2f} K, "
        f"MAE {c.mae:.2f} K; 1 % of readings more than {max(0.0, -c.low_k):.1f} K under it",
    ]
    if cal.setpoint_diff is not None:
        mean, mae, n = cal.setpoint_diff
        lines.append(f"controller setpoint minus this curve: mean {mean:+.2f} K, MAE {mae:.2f} K"
                     f" ({n} readings)")
    if cal.heating_nights:
        if cal.off_windows:
            offs = ", ".join(f"{w.text()} (off on >= {w.share:.0%})" for w in cal.off_windows)
            lines.append(f"off windows: {offs} of {cal.heating_nights} heating nights")
        else:
            lines.append(f"off windows: none on most of {cal.heating_nights} heating nights")
        if cal.setback is not None:
            s = cal.setback
            how = ("in the controller setpoint" if s.source == "supply_setpoint"
                   else "in supply on the nights it ran through")
            lines.append(f"setback: {s.k:g} K under the curve {s.window.text()}, {how} "
                         f"({s.nights} nights)")
        elif not any(n.startswith("setback not learned") for n in cal.notes):
            lines.append("setback: none found")
    if cal.warmup_s is not None:
        lines.append(f"warm-up: 95 % of {cal.restarts} restarts within {cal.warmup_s:.0f} s of "
                     "the target")
    if cal.dt_k is not None:
        p5, p50, p95 = cal.dt_k
        lines.append(f"supply-return difference: {p5:.1f} / {p50:.1f} / {p95:.1f} K "
                     "(p5 / median / p95)")
    if cal.return_c is not None:
        lines.append(f"return: {cal.return_c[0]:.1f} to {cal.return_c[1]:.1f} C (p1 to p99)")
    if cal.makeup_ratio is not None:
        med, p99, n = cal.makeup_ratio
        lines.append(f"make-up / flow: median {med:.4f}, p99 {p99:.4f} ({n} readings)")
    if cal.delivering_kw is not None:
        lines.append(f"heat delivered above {cal.delivering_kw:.1f} kW (5 % of its p95 power; "
                     "written only when above the rules' delivering_kw)")
    if cal.interval_s is not None:
        lines.append(f"reporting interval: {cal.interval_s:.0f} s (median of the newest two weeks)")
    lines += cal.notes
    return lines


def render(cals: Sequence[Calibration], overrides: Mapping[str, dict[str, Any]],
           header: Sequence[str], refused: Mapping[str, str]) -> str:
    """The file's text: a commented ``stations:`` block, one entry per calibrated station."""
    out = [f"# {line}" if line else "#" for line in header]
    for station, why in sorted(refused.items()):
        out.append(f"# {station}: not calibrated: {why}")
    out.append("stations:")
    for cal in cals:
        out.append("")
        out += [f"  # {line}" for line in _comments(cal)]
        body = yaml.dump({cal.station: overrides[cal.station]}, Dumper=_Dumper,
                         sort_keys=False, default_flow_style=None, allow_unicode=True,
                         width=100)
        out += ["  " + line for line in body.splitlines()]
    return "\n".join(out) + "\n"


def validate(text: str) -> RulesConfig:
    """Load the text exactly as ``load_rules`` would; :class:`ConfigError` if it fails."""
    try:
        return RulesConfig.model_validate(yaml.safe_load(text) or {})
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"the calibrated rules do not validate (a bug): {exc}") from exc


def merged_rules(base: RulesConfig, overrides: Mapping[str, dict[str, Any]]) -> RulesConfig:
    """``base`` with the calibrated station blocks layered over its own station blocks."""
    data = base.model_dump(mode="json", exclude_unset=True)
    stations: dict[str, Any] = dict(data.get("stations", {}))
    for station, block in overrides.items():
        stations[station] = _deep_merge(stations.get(station, {}), block)
    data["stations"] = stations
    return RulesConfig.model_validate(data)


def _deep_merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
