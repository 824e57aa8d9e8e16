"""cold_predicted step by step on scripted cycles: fires with when / how cold / how sure / what
to change, resolves when the prediction goes away or when the cold arrives."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from alerts.config import HeatingSchedule, OffWindow, RuleSet
from alerts.lifecycle import Subject, step
from alerts.model import AlertState, EventKind, Scope, Signal, Track
from alerts.rules.cold_predicted import ColdPredicted, flat_verdict, zone_verdict
from forecast.predict import StationNow, plan_stations, predict
from forecast.risk import FlatRisk, ZoneRisk
from forecast.summary import RiskSettings, summarise
from forecast.thermal import Models

TZ = ZoneInfo("Asia/Shanghai")
RULES = RuleSet(heating=HeatingSchedule(
    timezone="Asia/Shanghai", season_start="10-15", season_end="04-15",
    off_windows=(OffWindow(start=dt.time(22), end=dt.time(5)),)))
P = ColdPredicted()


def _at(hour: int, minute: int = 0, day: int = 7) -> float:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=TZ).timestamp()


def _cycle(now: float, night_c: float, start: list[float]) -> tuple[list[FlatRisk],
                                                                    list[ZoneRisk]]:
    """One forecast cycle for a station that switches off at 22:00, four flats."""
    n = len(start)
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    models = Models(station=["S1"] * n, meter=[f"m{i}" for i in range(n)], zone=["north"] * n,
                    a=(b * 36.0 - c) / 30.7, b=b, c=c,
                    err=np.full((n, 12), 0.3, dtype=np.float32), windows=np.full(n, 50),
                    step_s=3600.0, fitted_from=0.0, fitted_to=1.0)

    def outdoor(zone: str, t: float) -> float:
        return -15.0 if t < _at(21) else night_c

    plan = plan_stations([StationNow("S1", "north", RULES)], now, outdoor)
    pred = predict(models, np.zeros(n, dtype=np.int64), np.array(start), plan)
    return summarise(pred, lambda z: RiskSettings(timezone="Asia/Shanghai"))


def test_zone_alert_fires_says_when_how_cold_how_sure_and_what_to_do_then_resolves() -> None:
    track = Track("cold_predicted", "north")
    subject = Subject("cold_predicted", "north", Scope.ZONE, zone="north")
    # 18:00: a -22 °C night is forecast and S1 will switch off at 22:00
    _, zones = _cycle(_at(18), -22.0, [21.0, 21.0, 20.8, 21.2])
    v = zone_verdict(_at(18), zones[0], RULES, P)
    assert v.signal is Signal.FIRE
    ann = dict(v.annotations)
    assert ann["action"] == "do not switch off S1 at 22:00"
    assert ann["flats_predicted_cold"] == "4" and ann["flats_total"] == "4"
    cold_from = dt.datetime.fromtimestamp(float(ann["cold_from_ts"]), TZ)
    assert cold_from > dt.datetime(2026, 12, 7, 22, 0, tzinfo=TZ)
    assert float(ann["min_predicted_c"]) < 18.0 and float(ann["probability"]) >= 0.8
    assert "predicted under 18 °C from" in v.summary and "do not switch off" in v.summary
    events = step(track, v, _at(18), P, subject)
    assert [e.kind for e in events] == [EventKind.FIRING]
    # 18:15: still predicted, nothing new
    _, zones = _cycle(_at(18, 15), -22.0, [21.0, 21.0, 20.8, 21.2])
    assert step(track, zone_verdict(_at(18, 15), zones[0], RULES, P), _at(18, 15), P,
                subject) == []
    # 18:30: the forecast turned mild: no longer predicted; kept firing a while, then gone
    _, zones = _cycle(_at(18, 30), 8.0, [21.0, 21.0, 20.8, 21.2])
    v = zone_verdict(_at(18, 30), zones[0], RULES, P)
    assert v.signal is Signal.CLEAR
    assert step(track, v, _at(18, 30), P, subject) == []
    assert track.alert is not None and track.alert.state is AlertState.FIRING
    events = step(track, v, _at(18, 30) + P.keep_firing_for_s, P, subject)
    assert [e.kind for e in events] == [EventKind.RESOLVED]
    assert track.alert is None


def test_zone_alert_resolves_when_the_cold_arrives() -> None:
    """Predicted at 20:00, then at 01:00 the flats are under the standard: zone_cold's turn."""
    track = Track("cold_predicted", "north")
    subject = Subject("cold_predicted", "north", Scope.ZONE, zone="north")
    _, zones = _cycle(_at(20), -22.0, [21.0, 21.0, 20.8, 21.2])
    assert step(track, zone_verdict(_at(20), zones[0], RULES, P), _at(20), P, subject)
    now = _at(1, 0, day=8)
    _, zones = _cycle(now, -22.0, [17.5, 17.6, 17.4, 17.8])
    assert zones[0].share_now == 1.0
    v = zone_verdict(now, zones[0], RULES, P)
    assert v.signal is Signal.CLEAR
    step(track, v, now, P, subject)
    events = step(track, v, now + P.keep_firing_for_s, P, subject)
    assert [e.kind for e in events] == [EventKind.RESOLVED]


def test_flat_alert_lifecycle_and_stale_prediction() -> None:
    track = Track("cold_predicted", "m0")
    subject = Subject("cold_predicted", "m0", Scope.FLAT, station="S1", zone="north")
    flats, _ = _cycle(_at(18), -22.0, [21.0, 21.0, 20.8, 21.2])
    v = flat_verdict(_at(18), flats[0], RULES, P)
    assert v.signal is Signal.FIRE
    ann = dict(v.annotations)
    assert ann["meter"] == "m0" and ann["action"] == "do not switch off S1 at 22:00"
    assert float(ann["error_k"]) > 0
    assert [e.kind for e in step(track, v, _at(18), P, subject)] == [EventKind.FIRING]
    # no newer cycle for more than max_age_s: the old prediction says nothing any more
    late = _at(18) + P.max_age_s + 1
    v = flat_verdict(late, flats[0], RULES, P)
    assert v.signal is Signal.CLEAR
    step(track, v, late, P, subject)
    assert [e.kind for e in step(track, v, late + P.keep_firing_for_s, P, subject)] == [
        EventKind.RESOLVED]


def test_a_warm_flat_on_a_mild_night_is_not_predicted() -> None:
    flats, zones = _cycle(_at(18), 8.0, [21.0, 21.0, 20.8, 21.2])
    assert all(f.below_at is None for f in flats)
    assert zone_verdict(_at(18), zones[0], RULES, P).signal is Signal.CLEAR
    assert flat_verdict(_at(18), flats[0], RULES, P).signal is Signal.CLEAR
    # 18:00 -> next 07:00 is 13 h away, beyond the 12 h horizon: no morning figure
    assert zones[0].morning_share is None
    _, zones = _cycle(_at(20), -22.0, [21.0, 21.0, 20.8, 21.2])
    assert zones[0].morning_share is not None and zones[0].morning_share >= 0.75


def test_messages_in_english_and_chinese() -> None:
    from alerts.notify.render import Renderer

    track = Track("cold_predicted", "north")
    subject = Subject("cold_predicted", "north", Scope.ZONE, zone="north")
    flats, zones = _cycle(_at(18), -22.0, [21.0, 21.0, 20.8, 21.2])
    step(track, zone_verdict(_at(18), zones[0], RULES, P), _at(18), P, subject)
    assert track.alert is not None
    en = Renderer("en").what(track.alert)
    assert en.startswith("4 of 4 flats predicted under 18 °C from ")
    assert "% sure; to keep warm: do not switch off S1 at 22:00" in en
    zh = Renderer("zh").what(track.alert)
    assert "4 户中 4 户预计自" in zh and "建议: S1 不要在 22:00 停止供热" in zh
    flat = Track("cold_predicted", "m0")
    step(flat, flat_verdict(_at(18), flats[0], RULES, P), _at(18), P,
         Subject("cold_predicted", "m0", Scope.FLAT, station="S1", zone="north"))
    assert flat.alert is not None
    assert Renderer("en").what(flat.alert).startswith("flat m0 predicted under 18 °C from ")
    assert Renderer("zh").what(flat.alert).startswith("住户 m0预计自")


def test_engine_steps_cycles_and_clears_what_a_later_cycle_no_longer_names() -> None:
    """The engine hook end to end: a cycle fires the zone and every flat, a later cycle
    without one flat resolves it after keep_firing_for, and when cycles stop coming the rest
    resolve once the last one is older than max_age_s."""
    from alerts.config import RulesConfig
    from alerts.engine import Engine
    from alerts.rules.cold_predicted import Cycle
    from alerts.store import Store

    rules = RulesConfig.model_validate({
        "pipeline": {"startup_grace_s": 0, "enabled": False},
        "defaults": {"heating": {"timezone": "Asia/Shanghai", "season_start": "10-15",
                                 "season_end": "04-15"}}})
    engine = Engine(rules, Store(":memory:"), clock=lambda: 0.0)
    now = _at(18)
    flats, zones = _cycle(now, -22.0, [21.0, 21.0, 20.8, 21.2])
    engine.observe_forecast(Cycle(now, tuple(zones), tuple(flats)))
    events = engine.evaluate(now)
    fired = sorted((e.alert.subject, e.kind.value) for e in events)
    assert fired == [("m0", "firing"), ("m1", "firing"), ("m2", "firing"),
                     ("m3", "firing"), ("north", "firing")]
    assert {e.alert.scope for e in events} == {Scope.ZONE, Scope.FLAT}
    assert {e.alert.station for e in events if e.alert.scope is Scope.FLAT} == {"S1"}
    # 15 min later the same prediction without flat m3 (say it was refused by a refit)
    later = now + 900
    flats, zones = _cycle(later, -22.0, [21.0, 21.0, 20.8, 21.2])
    engine.observe_forecast(Cycle(later, tuple(zones), tuple(flats[:3])))
    assert engine.evaluate(later) == []
    assert engine.evaluate(later + P.max_age_s / 2) == []  # m3 kept firing, the rest fire
    # no cycle any more: past max_age_s the rest say nothing (CLEAR, kept firing a while)
    stale = later + P.max_age_s + 1
    assert engine.evaluate(stale) == []
    events = engine.evaluate(later + P.keep_firing_for_s)
    assert [(e.alert.subject, e.kind.value) for e in events] == [("m3", "resolved")]
    events = engine.evaluate(stale + P.keep_firing_for_s)
    assert sorted(e.alert.subject for e in events if e.kind is EventKind.RESOLVED) == [
        "m0", "m1", "m2", "north"]
    assert not engine.has_open("cold_predicted")
