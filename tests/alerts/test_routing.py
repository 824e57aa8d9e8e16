"""Routing stages alone and together, on an injected clock: matchers, the group window,
repeats, escalation (and none once acked), resolved to every receiver that had the firing,
restart without duplicates or losses. Channels are a recording fake here; each real channel
has its own test against a real receiver (test_notify_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_helpers import (
    T0,
    Clock,
    api_ack,
    api_window,
    drive,
    every,
    healthy,
    quiet_rules,
    registry,
)
from prometheus_client import REGISTRY

from alerts.engine import Engine
from alerts.model import Alert, AlertState, Scope, Severity
from alerts.notify.base import Notification, SendResult
from alerts.notify.delivery import Pipeline
from alerts.notify.render import Renderer
from alerts.routing import ROUTE_INBOX, GroupClock, RouteConfig, RouteTable
from alerts.store import Store


class Recorder:
    """A grouped channel that remembers every message (pure fake: no network needed)."""

    def __init__(self, name: str, results: list[SendResult] | None = None) -> None:
        self.name = name
        self.got: list[Notification] = []
        self.results = results or []

    def deliver(self, note: Notification) -> SendResult:
        self.got.append(note)
        return self.results.pop(0) if self.results else SendResult(ok=True)

    def close(self) -> None:
        pass

    def stations(self) -> list[list[str]]:
        return [sorted(i.alert.station or "" for i in n.items) for n in self.got]


def alert(rule: str = "power_loss", zone: str = "north", severity: Severity = Severity.CRITICAL,
          station: str | None = "s1") -> Alert:
    return Alert(f"{rule}-{station}", rule, station or zone, Scope.STATION if station
                 else Scope.ZONE, station, zone, AlertState.FIRING, severity, T0)


CREWS = [
    RouteConfig.model_validate({"name": "north-leaks", "zones": ["north"], "kinds": ["leak"],
                                "receivers": ["north"], "continue": True}),
    RouteConfig(name="north", zones=["north"], receivers=["north"],
                severities=[Severity.CRITICAL]),
    RouteConfig(name="cold", rules=["zone_cold"], receivers=["heating"]),
    RouteConfig(name="rest", receivers=["ops"]),
]


def test_matchers_first_match_wins_unless_continue() -> None:
    table = RouteTable(CREWS, ["north", "heating", "ops"])
    assert table.receivers_for(alert("power_loss")) == ["north"]
    assert [i for i, _ in table.match(alert("makeup_surge"))] == [0, 1]
    assert table.receivers_for(alert("tank_draining", severity=Severity.WARNING)) == [
        "north", "ops"]  # leak route continues; warning skips the critical-only route
    assert table.receivers_for(alert("zone_cold", station=None, severity=Severity.WARNING)
                               ) == ["heating"]
    assert table.receivers_for(alert("power_loss", zone="south")) == ["ops"]


def test_config_errors_are_caught_at_start() -> None:
    with pytest.raises(ValueError, match="unknown receivers"):
        RouteTable([RouteConfig(receivers=["nobody"])], ["ops"])
    with pytest.raises(ValueError, match="unknown kinds"):
        RouteConfig(kinds=["leaks"], receivers=["ops"])
    with pytest.raises(ValueError, match="unknown rules"):
        RouteConfig(rules=["power_los"], receivers=["ops"])


def test_group_clock_wait_then_interval() -> None:
    table = RouteTable([RouteConfig(receivers=["ops"], group_wait_s=30,
                                    group_interval_s=300)], ["ops"])
    group = table.group(alert(), "ops")
    assert group.labels == {"alertname": "power_loss", "zone": "north"}
    clock = GroupClock()
    assert clock.schedule("ops", group, T0) == T0 + 30
    assert clock.schedule("ops", group, T0 + 20) == T0 + 30  # joins the pending message
    clock.flushed("ops", group.key, T0 + 30)
    assert clock.schedule("ops", group, T0 + 60) == T0 + 330  # next interval
    clock.flushed("ops", group.key, T0 + 330)
    assert clock.schedule("ops", group, T0 + 1000) == T0 + 1030  # quiet group: wait again
    clock.prune(T0 + 2000)
    assert clock.schedule("ops", group, T0 + 1040) == T0 + 1030  # scheduled: kept
    clock.flushed("ops", group.key, T0 + 1030)
    clock.prune(T0 + 2000)
    assert clock.schedule("ops", group, T0 + 1100) == T0 + 1130  # forgotten: wait again


def setup(store: Store, clock: Clock, routes: list[RouteConfig], names: list[str],
          stations: tuple[str, ...] = ("s1", "s2", "s3"),
          **rules: object) -> tuple[Engine, Pipeline, dict[str, Recorder]]:
    engine = Engine(quiet_rules(**rules), store, clock, registry=registry(*stations),
                    receivers=(ROUTE_INBOX,))
    recorders = {n: Recorder(n) for n in names}
    pipeline = Pipeline(store, RouteTable(routes, names), recorders, clock,
                        escalation_check_s=0)
    return engine, pipeline, recorders


def run(pipeline: Pipeline, clock: Clock, offsets: range) -> None:
    for offset in offsets:
        clock.now = T0 + offset
        pipeline.run_once(clock.now)


def latency(receiver: str) -> tuple[float, float]:
    name = "heatwatch_alert_notification_latency_seconds"
    labels = {"receiver": receiver}
    return (REGISTRY.get_sample_value(f"{name}_count", labels) or 0.0,
            REGISTRY.get_sample_value(f"{name}_sum", labels) or 0.0)


def test_three_stations_within_group_wait_are_one_message(store: Store, clock: Clock) -> None:
    routes = [RouteConfig(zones=["north"], receivers=["north"], group_wait_s=30,
                          group_interval_s=120)]
    engine, pipeline, rec = setup(store, clock, routes, ["north"])
    for offset, station in ((0, "s1"), (8, "s2"), (20, "s3")):
        drive(engine, clock, [(offset, [healthy(station, T0 + offset, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert rec["north"].got == []  # still inside group_wait
    count, total = latency("north")
    run(pipeline, clock, range(21, 31))
    assert rec["north"].stations() == [["s1", "s2", "s3"]]
    # benchmark hook: event -> send completed, per receiver (30 + 22 + 10 s here)
    assert latency("north") == (count + 3, total + 62)
    note = rec["north"].got[0]
    assert note.group_labels == {"alertname": "power_loss", "zone": "north"}
    text = Renderer("en").render(note).text
    assert all(s in text for s in ("s1", "s2", "s3")) and "[FIRING:3]" in text
    # s2 recovers: the resolved waits for the group interval after the first message
    drive(engine, clock, [(40, [healthy("s2", T0 + 40)])])
    run(pipeline, clock, range(40, 149))
    assert len(rec["north"].got) == 1  # 30 + 120: not before 150
    run(pipeline, clock, range(149, 151))
    assert [n.status for n in rec["north"].got] == ["firing", "resolved"]
    assert rec["north"].stations()[1] == ["s2"]
    assert store.outbox(status="sent")[-1].key.startswith("north/")


def test_repeat_while_unacked_goes_to_the_route(store: Store, clock: Clock) -> None:
    routes = [RouteConfig(receivers=["ops"], group_wait_s=0, group_interval_s=0)]
    engine, pipeline, rec = setup(store, clock, routes, ["ops"], ("s1",), repeat_interval_s=600)
    for t in range(0, 1300, 100):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert len(rec["ops"].got) == 3  # 0, 600, 1200
    api_ack(store, engine.open_alerts()[0].id, by="crew", now=T0 + 1300)
    for t in range(1300, 3000, 100):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert len(rec["ops"].got) == 3


def test_route_repeat_interval_while_unacked(store: Store, clock: Clock) -> None:
    routes = [RouteConfig(receivers=["ops"], group_wait_s=0, group_interval_s=0,
                          repeat_interval_s=600)]
    engine, pipeline, rec = setup(store, clock, routes, ["ops"], ("s1",), repeat_interval_s=0)
    for t in range(0, 1300, 50):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert [round(n.items[0].ts - T0) for n in rec["ops"].got] == [0, 600, 1200]
    store.close()
    reopened = Store(store.path)  # a restart repeats nothing twice
    engine, pipeline, again = setup(reopened, clock, routes, ["ops"], ("s1",),
                                    repeat_interval_s=0)
    api_ack(reopened, engine.open_alerts()[0].id, by="crew", now=T0 + 1300)
    for t in range(1300, 2500, 50):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert again["ops"].got == []  # acked: no more repeats
    reopened.close()


def test_route_language_reaches_the_message(store: Store, clock: Clock) -> None:
    routes = [RouteConfig.model_validate({"zones": ["north"], "receivers": ["crew"],
                                          "group_wait_s": 0, "group_interval_s": 0,
                                          "language": "zh", "continue": True}),
              RouteConfig(receivers=["ops"], group_wait_s=0, group_interval_s=0)]
    engine, pipeline, rec = setup(store, clock, routes, ["crew", "ops"], ("s1",))
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    pipeline.run_once(clock.now)
    (crew,), (ops,) = rec["crew"].got, rec["ops"].got
    assert crew.language == "zh" and ops.language is None
    channel = Renderer("en")  # the channel's own language applies unless the route sets one
    assert channel.for_language(crew.language).render(crew).title.startswith("[告警] 市电断电")
    assert channel.for_language(ops.language).render(ops).title.startswith("[FIRING]")


ESCALATING = [RouteConfig(receivers=["crew"], group_wait_s=0, group_interval_s=0,
                          escalate={"after_s": 900, "receivers": ["boss"]})]  # type: ignore[arg-type]


def test_escalation_after_n_minutes_unacked(store: Store, clock: Clock) -> None:
    engine, pipeline, rec = setup(store, clock, ESCALATING, ["crew", "boss"], ("s1",))
    for t in range(0, 1200, 60):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
        assert bool(rec["boss"].got) == (t >= 900)
    assert len(rec["crew"].got) == 1 and len(rec["boss"].got) == 1  # once per incident
    esc = rec["boss"].got[0]
    assert "ESCALATED: unacknowledged for 15 min" in Renderer("en").render(esc).text
    # resolved goes to both: the crew had the firing, the boss the escalation
    drive(engine, clock, [(1200, [healthy("s1", T0 + 1200)])])
    pipeline.run_once(clock.now)
    assert [n.status for n in rec["crew"].got + rec["boss"].got] == [
        "firing", "resolved", "firing", "resolved"]


def test_no_escalation_once_acked(store: Store, clock: Clock) -> None:
    engine, pipeline, rec = setup(store, clock, ESCALATING, ["crew", "boss"], ("s1",))
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    pipeline.run_once(clock.now)
    api_ack(store, engine.open_alerts()[0].id, by="crew-north", now=T0 + 300)
    for t in range(300, 2000, 60):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert rec["boss"].got == [] and len(rec["crew"].got) == 1
    drive(engine, clock, [(2000, [healthy("s1", T0 + 2000)])])
    pipeline.run_once(clock.now)
    assert [n.status for n in rec["crew"].got] == ["firing", "resolved"]
    assert rec["boss"].got == []  # never had the firing: no resolved either


def test_no_escalation_during_maintenance(store: Store, clock: Clock) -> None:
    engine, pipeline, rec = setup(store, clock, ESCALATING, ["crew", "boss"], ("s1",))
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    pipeline.run_once(clock.now)
    api_window(store, Scope.STATION, "s1", T0 + 60, T0 + 1200, "pump swap", "crew")
    for t in range(60, 1200, 60):
        drive(engine, clock, [(t, [healthy("s1", T0 + t, power_ok=False)])])
        pipeline.run_once(clock.now)
    assert rec["boss"].got == []
    drive(engine, clock, [(1200, [healthy("s1", T0 + 1200, power_ok=False)])])
    pipeline.run_once(clock.now)  # window over, still firing and unacked: escalate now
    assert len(rec["boss"].got) == 1


def test_resolved_reaches_receivers_the_routes_no_longer_name(tmp_path: Path,
                                                              clock: Clock) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    old = [RouteConfig(receivers=["crew"], group_wait_s=0, group_interval_s=0)]
    engine, pipeline, _rec = setup(store, clock, old, ["crew", "ops"])
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    pipeline.run_once(clock.now)
    store.close()
    store = Store(path)  # restart with a new config: the crew is no longer routed to
    new = [RouteConfig(receivers=["ops"], group_wait_s=0, group_interval_s=0)]
    engine, pipeline, rec2 = setup(store, clock, new, ["crew", "ops"])
    drive(engine, clock, [(10, [healthy("s1", T0 + 10)])])
    pipeline.run_once(clock.now)
    assert [n.status for n in rec2["crew"].got] == ["resolved"]
    assert rec2["ops"].got == []
    store.close()


def test_restart_no_duplicate_no_loss(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.db"
    routes = [RouteConfig.model_validate({"zones": ["north"], "receivers": ["crew"],
                                          "group_wait_s": 30, "group_interval_s": 60,
                                          "continue": True}),
              RouteConfig(receivers=["ops"], group_wait_s=0, group_interval_s=0)]
    store = Store(path)
    engine, pipeline, first = setup(store, clock, routes, ["crew", "ops"])
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    pipeline.run_once(clock.now)  # ops sent at once; crew waits for the group
    drive(engine, clock, [(10, [healthy("s2", T0 + 10, power_ok=False)])])
    pipeline.route(clock.now)  # s2 routed, crash before anything else is sent
    store.close()

    store = Store(path)
    engine, pipeline, second = setup(store, clock, routes, ["crew", "ops"])
    run(pipeline, clock, range(10, 40))
    assert first["ops"].stations() == [["s1"]]
    assert second["ops"].stations() == [["s2"]]
    assert first["crew"].got == [] and second["crew"].stations() == [["s1", "s2"]]
    keys = [o.key for o in store.outbox()]
    assert len(keys) == len(set(keys)) == 6  # 2 engine rows + 2 stations x 2 receivers
    assert {o.status for o in store.outbox()} == {"sent"}
    # the expansion of an engine row is idempotent: routing it again adds nothing
    assert pipeline.route(clock.now) == 0
    store.close()


def test_retry_keeps_the_group_together(store: Store, clock: Clock) -> None:
    routes = [RouteConfig(receivers=["ops"], group_wait_s=5, group_interval_s=60)]
    engine, pipeline, rec = setup(store, clock, routes, ["ops"])
    rec["ops"].results = [SendResult(ok=False, retryable=True, detail="503")]
    drive(engine, clock, every(0, 3, 1, lambda t: [healthy(f"s{int(t - T0) + 1}", t,
                                                            power_ok=False)]))
    run(pipeline, clock, range(3, 8))
    assert rec["ops"].stations() == [["s1", "s2", "s3"], ["s1", "s2", "s3"]]
    assert {o.attempts for o in store.outbox() if o.receiver == "ops"} == {2}
