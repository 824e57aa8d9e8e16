"""``cold_predicted``: a zone's flats (a share, as ``zone_cold``) or one flat predicted under the
standard within the forecast horizon, before anyone is cold.

Input: one forecast cycle's :class:`~forecast.risk.ZoneRisk` / :class:`~forecast.risk.FlatRisk`
(every flat's thermal model run over the stations' planned supply and the weather forecast:
:mod:`forecast.predict`). The alert says when (the first predicted time under the standard),
how cold (the coldest predicted temperature and when), how sure (the chance the cold is real,
from the fit's error at that lead) and the smallest change to the station's plan that keeps
the flats warm ("do not switch off st-00003 at 22:00", "raise supply at st-00007 by 4 K from
02:00"), found by re-running the prediction.

It resolves when a later cycle no longer predicts the cold (``keep_firing_for_s`` rides over a
cycle or two on the line), or when the cold arrives: the share under the standard *now*
reaches ``share`` (a flat: it is under the standard now), and ``zone_cold`` (``flat_cold``)
judges what is there instead of what is coming.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import Field

from alerts.model import Scope, Signal, Verdict
from alerts.params import RuleParams
from alerts.rules.base import band
from alerts.rules.spec import PlotPanel, RuleSpec
from forecast.risk import FlatRisk, ZoneRisk

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["COLD_PREDICTED", "RULES", "ColdPredicted", "Cycle", "Target", "flat_verdict",
           "steps", "zone_verdict"]

NAME = "cold_predicted"
NO_ACTION = "no change within the tried supply range keeps it warm"
NO_ACTION_ZH = "在尝试的供水调整范围内无法保持室温"


class ColdPredicted(RuleParams):
    """Parameters of ``cold_predicted``; the standard is ``zone_cold``'s."""

    # a flat on the line flickers between cycles: one alert, not one per flicker
    keep_firing_for_s: float = 10800.0
    min_probability: float = Field(default=0.8, gt=0, lt=1,
                                   description="how sure the prediction must be")
    # 3 h, not the 2 h a cold episode needs: predicted 2-3 h runs turned out 1-2 h as often
    # as not (bench/forecast_bench.py), and a 1.5 h dip before the morning restart is no episode
    min_duration_s: float = Field(default=10800.0, ge=0,
                                  description="predicted under the standard at least this long")
    share: float = Field(default=0.10, gt=0, le=1, description="share of a zone's flats")
    recover_share: float = Field(default=0.05, ge=0, le=1)
    min_flats: int = Field(default=3, ge=1)
    flats: bool = Field(default=True, description="also alert per flat")
    max_age_s: float = Field(default=3600.0, gt=0,
                             description="an older prediction says nothing (clears)")
    max_raise_k: float = Field(default=20.0, gt=0, description="largest supply raise tried")
    raise_step_k: float = Field(default=2.0, gt=0)

    def check(self) -> None:
        if self.recover_share > self.share:
            raise ValueError("cold_predicted: recover_share must be <= share")


def _local(t: float, rules: RuleSet) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(rules.heating.timezone)).strftime("%H:%M")


def zone_verdict(now: float, risk: ZoneRisk | None, rules: RuleSet,
                 p: ColdPredicted) -> Verdict:
    """FIRE when at least ``share`` of the zone's flats are predicted under the standard at
    some step of the horizon, with ``min_probability`` on average; CLEAR when at most
    ``recover_share`` are, when the cold is already here, or when the prediction is stale."""
    if risk is None or now - risk.issued_at > p.max_age_s:
        return Verdict.clear()
    if risk.flats < p.min_flats:
        return Verdict.hold()
    if risk.share_now >= p.share:
        return Verdict.clear()  # the cold has arrived: zone_cold's turn
    fire = risk.share_peak >= p.share and risk.p_mean >= p.min_probability
    signal = band(fire, risk.share_peak <= p.recover_share)
    if signal is not Signal.FIRE:
        return Verdict(signal)
    first = risk.first_at if risk.first_at is not None else risk.peak_at
    actions = "; ".join(risk.actions) or NO_ACTION
    actions_zh = "；".join(risk.actions_zh) or NO_ACTION_ZH
    return Verdict(
        Signal.FIRE,
        value=risk.share_peak,
        summary=(
            f"{risk.cold_flats_peak} of {risk.flats} flats in zone {risk.zone} predicted under "
            f"{risk.standard_c:g} °C from {_local(first, rules)} (coldest {risk.min_c:.1f} °C, "
            f"{risk.p_mean:.0%} sure): {actions}"
        ),
        annotations=(
            ("flats_predicted_cold", str(risk.cold_flats_peak)),
            ("flats_total", str(risk.flats)),
            ("cold_from", _local(first, rules)),
            ("cold_from_ts", f"{first:.0f}"),
            ("peak_at", _local(risk.peak_at, rules)),
            ("min_predicted_c", f"{risk.min_c:.1f}"),
            ("median_predicted_c", f"{risk.median_c_peak:.1f}"),
            ("probability", f"{risk.p_mean:.2f}"),
            ("standard_c", f"{risk.standard_c:g}"),
            ("action", actions),
            ("action_zh", actions_zh),
            ("issued_at", f"{risk.issued_at:.0f}"),
        ),
    )


def flat_verdict(now: float, risk: FlatRisk | None, rules: RuleSet,
                 p: ColdPredicted) -> Verdict:
    """FIRE when the flat is predicted under the standard for ``min_duration_s`` within the
    horizon with ``min_probability`` (the predictor's ``below_at``); CLEAR otherwise, when it
    is under the standard already, or when the prediction is stale."""
    if (not p.flats or risk is None or now - risk.issued_at > p.max_age_s
            or risk.cold_now or risk.below_at is None):
        return Verdict.clear()
    action = risk.action or NO_ACTION
    return Verdict(
        Signal.FIRE,
        value=risk.min_c,
        summary=(
            f"flat {risk.meter} at {risk.station} predicted under {risk.standard_c:g} °C from "
            f"{_local(risk.below_at, rules)} (coldest {risk.min_c:.1f} °C at "
            f"{_local(risk.min_at, rules)}, {risk.p_below:.0%} sure, ±{risk.sigma_c:.1f} K): "
            f"{action}"
        ),
        annotations=(
            ("meter", risk.meter),
            ("cold_from", _local(risk.below_at, rules)),
            ("cold_from_ts", f"{risk.below_at:.0f}"),
            ("min_predicted_c", f"{risk.min_c:.1f}"),
            ("min_at", _local(risk.min_at, rules)),
            ("probability", f"{risk.p_below:.2f}"),
            ("error_k", f"{risk.sigma_c:.2f}"),
            ("now_c", f"{risk.now_c:.1f}"),
            ("standard_c", f"{risk.standard_c:g}"),
            ("action", action),
            ("action_zh", risk.action_zh or NO_ACTION_ZH),
            ("issued_at", f"{risk.issued_at:.0f}"),
        ),
    )


@dataclass(frozen=True, slots=True)
class Target:
    """Who one verdict is about (the engine's lifecycle subject, without the engine)."""

    subject: str
    scope: Scope
    station: str | None
    zone: str | None


@dataclass(frozen=True, slots=True)
class Cycle:
    """One forecast cycle's risks, handed to the engine (:meth:`Engine.observe_forecast`)."""

    issued_at: float
    zones: tuple[ZoneRisk, ...]
    flats: tuple[FlatRisk, ...]


def steps(now: float, cycle: Cycle | None, last_issued: float | None,
          params_for: Callable[[str, str | None], RuleSet],
          open_subjects: Iterable[tuple[str, Scope]],
          ) -> Iterator[tuple[Target, Verdict, ColdPredicted]]:
    """What the engine steps for ``cold_predicted`` in one pass: every zone and flat of a new
    ``cycle`` (flats only when FIRE or already open: a city has 400,000 quiet ones), then a
    CLEAR for every open (subject, scope) the new cycle did not name, or, without a new
    cycle, for every open one once the last cycle (``last_issued``) is older than
    ``max_age_s`` (the defaults': an open subject's zone is on its alert, not needed here).

    Subjects as the household rules have them: a zone's id (ZONE), a flat's meter id (FLAT,
    with its station and zone on the alert)."""
    opened = list(open_subjects)
    named: set[tuple[str, Scope]] = set()
    if cycle is not None:
        for z in cycle.zones:
            rs = params_for(z.zone, None)
            p = COLD_PREDICTED.params(rs)
            named.add((z.zone, Scope.ZONE))
            if p.enabled:
                yield Target(z.zone, Scope.ZONE, None, z.zone), zone_verdict(now, z, rs, p), p
        open_flats = {s for s, scope in opened if scope is Scope.FLAT}
        for f in cycle.flats:
            rs = params_for(f.zone, f.station)
            p = COLD_PREDICTED.params(rs)
            v = flat_verdict(now, f, rs, p)
            named.add((f.meter, Scope.FLAT))
            if p.enabled and (v.signal is Signal.FIRE or f.meter in open_flats):
                yield Target(f.meter, Scope.FLAT, f.station, f.zone), v, p
    p_default = COLD_PREDICTED.params(params_for("", None))
    if cycle is None and (last_issued is None or now - last_issued <= p_default.max_age_s):
        return
    for subject, scope in opened:
        if (subject, scope) not in named:
            yield (Target(subject, scope, None, subject if scope is Scope.ZONE else None),
                   Verdict.clear(), p_default)


# Stepped by the engine from each forecast cycle's risks (Engine.observe_forecast): zones as
# ZONE alerts (subject: the zone), flats as FLAT alerts (subject: the meter id).
COLD_PREDICTED = RuleSpec(name=NAME, family="under_temperature", model=ColdPredicted,
                          scope=Scope.ZONE, plot=PlotPanel.INDOOR)
RULES: tuple[RuleSpec[Any], ...] = (COLD_PREDICTED,)
