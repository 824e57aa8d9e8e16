"""flat_cold and flat_sensor through the engine: firing at the hold, the message's figures,
inhibition by (and listing in) the station's own alert, and one message per station."""

from __future__ import annotations

from alert_helpers import T0, Clock, EngineFactory, drive, healthy, indoor, quiet_rules

from alerts.model import Alert, AlertState, EventKind, Scope, Severity
from alerts.notify.base import Notification
from alerts.notify.render import FLATS_LISTED, Renderer
from alerts.rows import OutboxItem
from alerts.store import Store
from heatwatch.registry import Registry, Station

STEP = 300.0
# the station's other rules stay out of the way: zone_cold (one flat of six is 17 %) and
# stuck_sensor (the scripted telemetry does not move)
QUIET = {"zone_cold": {"enabled": False}, "stuck_sensor": {"enabled": False}}
RULES = quiet_rules(defaults=QUIET)
FLATS = [f"st-1-f{i}-1" for i in range(1, 7)]


def building(station: str = "st-1") -> Registry:
    meters = [{"id": m, "floor": i + 1, "top_floor": i == len(FLATS) - 1, "gable_end": True}
              for i, m in enumerate(FLATS)]
    return Registry.of([Station.model_validate(
        {"id": station, "zone": "north", "report_interval_s": 60.0, "meters": meters})])


def flat_events(events: list[tuple[float, str, str]], rule: str = "flat_cold"
                ) -> list[tuple[float, str]]:
    return [(t, kind) for t, r, kind in events if r == rule]


def script(hours: float, cold: dict[str, float], supply: float = 55.0,
           start: float = 0.0) -> list[tuple[float, list]]:  # type: ignore[type-arg]
    """Every 5 min: the station's telemetry and every flat (21 °C unless ``cold`` says)."""
    out = []
    t = start
    while t < start + hours * 3600:
        jitter = 0.01 * (int(t / STEP) % 7)  # probes that move (no stuck_sensor)
        readings = [healthy("st-1", T0 + t, supply_temp=supply + jitter,
                            return_temp=supply - 8.0 - jitter)]
        readings += [indoor("st-1", m, T0 + t, cold.get(m, 21.0)) for m in FLATS]
        out.append((t, readings))
        t += STEP
    return out


def test_a_cold_flat_fires_at_the_hold_with_its_place_and_the_station_normal(
        make_engine: EngineFactory, clock: Clock, store: Store) -> None:
    engine = make_engine(RULES, building())
    top = FLATS[-1]
    events = drive(engine, clock, script(3.0, {top: 15.5}))
    fired = flat_events(events)
    assert fired == [(7200.0, "firing")]  # the hold from the first low reading
    alert = next(a for a in engine.open_alerts() if a.rule == "flat_cold")
    assert alert.scope is Scope.FLAT and alert.subject == top and alert.station == "st-1"
    assert alert.labels()["flat"] == top
    ann = alert.annotations
    assert ann["floor"] == "6" and ann["top_floor"] == "yes" and ann["gable_end"] == "yes"
    assert ann["station_state"] == "normal" and ann["level_c"] == "15.5"
    assert alert.severity is Severity.WARNING
    assert [(o.alert.rule, o.kind) for o in store.outbox()] == [("flat_cold", EventKind.FIRING)]
    # warm again: resolved once the level is back above 18.5
    events = drive(engine, clock, script(0.5, {top: 19.0}, start=3 * 3600))
    assert flat_events(events) == [(3 * 3600 + STEP, "resolved")]  # two of three warm


def test_station_under_supply_inhibits_flat_alerts_and_lists_them(
        make_engine: EngineFactory, clock: Clock, store: Store) -> None:
    rules = quiet_rules(defaults={**QUIET, "supply_below_curve": {"for_s": 0}})
    engine = make_engine(rules, building())
    cold = {m: 14.0 + i for i, m in enumerate(FLATS[:4])}
    # the curve wants ~48.7 °C at -10 °C outside; the station delivers 30 °C
    events = drive(engine, clock, script(2.5, cold, supply=30.0))
    assert [k for _, r, k in events if r == "supply_below_curve"] == ["firing"]
    assert len(flat_events(events)) == 4
    logged = [r for _, r in store.events() if r.event.alert.rule == "flat_cold"]
    assert logged and all(r.inhibited for r in logged)
    assert {o.alert.rule for o in store.outbox()} == {"supply_below_curve"}  # one page
    station = next(a for a in engine.open_alerts() if a.rule == "supply_below_curve")
    assert station.annotations["cold_flats"] == "4"
    assert station.annotations["worst_flats"].startswith(f"{FLATS[0]} 14.0 °C")
    flat = next(a for a in engine.open_alerts() if a.rule == "flat_cold")
    assert flat.annotations["station_state"] == "station_alert"
    assert flat.annotations["station_alerts"] == "supply_below_curve"
    text = Renderer("en").what(station)
    assert f"4 flats under the standard, coldest: {FLATS[0]} 14.0 °C" in text


def test_a_dead_sensor_is_a_sensor_alert_not_a_cold_flat(
        make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine(RULES, building())
    events = drive(engine, clock, script(1.6, {FLATS[0]: -127.0, FLATS[1]: 4.0}))
    # the sentinel at once; the probe reading 4 °C once it has a level (three readings)
    assert flat_events(events, "flat_sensor") == [(0.0, "pending"), (600.0, "pending"),
                                                 (3600.0, "firing"), (4200.0, "firing")]
    assert not flat_events(events)
    reasons = {a.subject: a.annotations["reason"] for a in engine.open_alerts()
               if a.rule == "flat_sensor"}
    assert reasons == {FLATS[0]: "sentinel", FLATS[1]: "below_neighbours"}


def test_a_short_dip_pages_nobody(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine(RULES, building())
    events = drive(engine, clock, script(0.5, {}))
    events += drive(engine, clock, script(0.25, {FLATS[2]: 14.0}, start=1800))
    events += drive(engine, clock, script(3.0, {}, start=2700))
    assert not flat_events(events) and not flat_events(events, "flat_sensor")


def _flat(i: int, value: float) -> OutboxItem:
    a = Alert(f"fc-{i}", "flat_cold", f"st-1-f{i}-1", Scope.FLAT, "st-1", "north",
              AlertState.FIRING, Severity.WARNING, T0, fired_at=T0, value=value,
              annotations={"flat": f"st-1-f{i}-1", "floor": str(i), "level_c": f"{value:.1f}",
                           "standard_c": "18", "hours": "2.5", "lowest_c": f"{value:.1f}",
                           "station_state": "normal"})
    return OutboxItem(f"r/{a.id}:firing:1", "r", EventKind.FIRING, T0, a)


def test_one_message_per_station_with_a_count_and_the_coldest_flats() -> None:
    items = tuple(_flat(i, 17.9 - 0.1 * ((i * 7) % 40)) for i in range(40))
    note = Notification("r", "g", {"alertname": "flat_cold", "station": "st-1"}, items)
    for language in ("en", "zh"):
        out = Renderer(language).render(note)
        lines = [x for x in out.text.splitlines() if x.startswith("- ")]
        assert len(lines) == FLATS_LISTED
        values = sorted(i.alert.value or 0.0 for i in items)[:FLATS_LISTED]
        assert f"{values[0]:.1f} °C" in lines[0]  # the coldest first
        assert "30" in out.text.splitlines()[-1]  # ... and 30 more
        assert "[" in out.title and ":40]" in out.title and "st-1" in out.title
    en = Renderer("en").render(note)
    assert "crew visit" in en.text and "floor" in en.text


def test_flat_readings_without_a_station_reading_still_judge_the_flat(
        make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine(RULES, building())
    out = []
    for k in range(30):
        out.append((k * STEP, [indoor("st-1", FLATS[0], T0 + k * STEP, 16.0)]))
    events = drive(engine, clock, out)
    assert flat_events(events) == [(7200.0, "firing")]
    alert = next(a for a in engine.open_alerts() if a.rule == "flat_cold")
    # no station reading at all: its station_offline is the cause, and the flat is held back
    assert alert.annotations["station_alerts"] == "station_offline"
    assert engine.router.inhibited(alert)


def test_after_the_station_recovers_its_flats_get_time_to_warm_back(
        make_engine: EngineFactory, clock: Clock, store: Store) -> None:
    rules = quiet_rules(defaults={**QUIET, "supply_below_curve": {"for_s": 0}})
    engine = make_engine(rules, building())
    cold = {FLATS[0]: 14.0, FLATS[1]: 16.0}
    events = drive(engine, clock, script(2.5, cold, supply=30.0))  # station fault
    assert len(flat_events(events)) == 2
    recovered = 2.5 * 3600
    # the station recovers: both flats' alerts close quietly; FLATS[0] warms back by 1 K an
    # hour, FLATS[1] stays at 16 °C
    events = drive(engine, clock, script(0.25, cold, start=recovered))
    assert [k for _, r, k in events if r == "supply_below_curve"] == ["resolved"]
    assert [k for _, k in flat_events(events)] == ["resolved", "resolved"]
    t = recovered + 900
    events = []
    while t < recovered + 6 * 3600:
        warming = min(21.0, 14.0 + (t - recovered) / 3600)
        events += drive(engine, clock, script(STEP / 3600, {FLATS[0]: warming,
                                                            FLATS[1]: 16.0}, start=t))
        t += STEP
    # FLATS[1] did not warm in the first hold after the recovery: paged then, on its own
    assert flat_events(events) == [(recovered + 7200, "firing")]
    paged = [(o.alert.subject, o.kind) for o in store.outbox() if o.alert.rule == "flat_cold"]
    assert paged == [(FLATS[1], EventKind.FIRING)]  # the warming flat was never paged
