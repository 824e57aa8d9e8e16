"""Webhook messages carry the group's state, as Alertmanager's do: one station resolving in a
zone whose other station still leaks sends ``status: "firing"`` with both alerts (the resolved
one and the one still firing) under the same ``groupKey``; only the last one resolving says
``resolved``. Without routes a group is a zone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_recorder import HttpRecorder, alert, item, resolved

from alerts.model import Alert, EventKind, Scope, Signal
from alerts.notify.delivery import Pipeline
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.routing import RouteConfig, RouteTable
from alerts.rows import Batch
from alerts.store import Store

T0 = 1768478400.0


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()


def state(a: Alert) -> Batch:
    signal = Signal.CLEAR if not a.is_open else Signal.FIRE
    return Batch(alerts={a.id: (a, signal)})


def run(store: Store, hook: HttpRecorder, routes: list[RouteConfig], steps: list[tuple[
        float, list[Alert], list[tuple[Alert, EventKind]]]], **web: Any) -> list[Any]:
    """Each step: the alerts' state at ``t``, the rows due for the receiver, one pass."""
    notifier = WebhookNotifier("hook", WebhookConfig(url=f"{hook.url}/hook", **web))
    now = [T0]
    pipeline = Pipeline(store, RouteTable(routes, ["hook"]), {"hook": notifier}, lambda: now[0])
    for t, alerts, rows in steps:
        now[0] = t
        for a in alerts:
            store.commit(state(a))
        store.commit(Batch(outbox=[
            item(a, kind, receiver="hook") for a, kind in rows]))
        pipeline.dispatcher.run_once(t)
    notifier.close()
    return [r.body for r in hook.requests]


def by_station(body: dict[str, Any]) -> dict[str, str]:
    return {a["labels"]["station"]: a["status"] for a in body["alerts"]}


def test_one_station_resolving_keeps_the_group_firing(tmp_path: Path,
                                                      hook: HttpRecorder) -> None:
    store = Store(tmp_path / "s.db")
    a, b = alert(station="S-01", ts=T0), alert(station="S-02", ts=T0)
    a_done, b_done = resolved(a, T0 + 600), resolved(b, T0 + 1200)
    first, second, third = run(store, hook, [], [
        (T0, [a, b], [(a, EventKind.FIRING), (b, EventKind.FIRING)]),
        (T0 + 600, [a_done], [(a_done, EventKind.RESOLVED)]),
        (T0 + 1200, [b_done], [(b_done, EventKind.RESOLVED)]),
    ])
    # without routes: one group per zone
    assert first["groupKey"] == second["groupKey"] == third["groupKey"] == (
        '{}/{default}:{zone="north"}')
    assert first["groupLabels"] == {"zone": "north"}
    assert first["status"] == "firing" and by_station(first) == {"S-01": "firing",
                                                                  "S-02": "firing"}
    # S-01 resolves, S-02 still leaks: the group fires, both alerts listed
    assert second["status"] == "firing"
    assert by_station(second) == {"S-01": "resolved", "S-02": "firing"}
    (s2,) = [x for x in second["alerts"] if x["labels"]["station"] == "S-02"]
    assert s2["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["commonLabels"] == {"alertname": "makeup_surge", "severity": "critical",
                                      "zone": "north"}
    # the last one resolves: now the group is resolved, and only it is listed
    assert third["status"] == "resolved" and by_station(third) == {"S-02": "resolved"}
    store.close()


def test_only_alerts_sent_to_the_receiver_and_of_the_group(tmp_path: Path,
                                                           hook: HttpRecorder) -> None:
    store = Store(tmp_path / "s.db")
    a, b = alert(station="S-01", ts=T0), alert(station="S-02", ts=T0)
    other_zone = alert(station="S-09", zone="south", ts=T0)
    other_rule = alert("pressure_drop", station="S-03", ts=T0, value=1.1)
    unsent = alert(station="S-04", ts=T0)  # firing, but never sent to this receiver
    route = RouteConfig(receivers=["hook"], group_by=["zone", "alertname"], group_wait_s=0,
                        group_interval_s=0)
    a_done = resolved(a, T0 + 60)
    bodies = run(store, hook, [route], [
        (T0, [a, b, other_zone, other_rule, unsent],
         [(a, EventKind.FIRING), (b, EventKind.FIRING), (other_zone, EventKind.FIRING),
          (other_rule, EventKind.FIRING)]),
        (T0 + 60, [a_done], [(a_done, EventKind.RESOLVED)]),
    ])
    last = bodies[-1]
    assert last["groupKey"] == '{}/{0}:{alertname="makeup_surge", zone="north"}'
    assert last["status"] == "firing" and by_station(last) == {"S-01": "resolved",
                                                                "S-02": "firing"}
    store.close()


def test_send_resolved_false_sends_nothing_for_a_resolve(tmp_path: Path,
                                                         hook: HttpRecorder) -> None:
    store = Store(tmp_path / "s.db")
    a, b = alert(station="S-01", ts=T0), alert(station="S-02", ts=T0)
    a_done = resolved(a, T0 + 60)
    bodies = run(store, hook, [], [
        (T0, [a, b], [(a, EventKind.FIRING), (b, EventKind.FIRING)]),
        (T0 + 60, [a_done], [(a_done, EventKind.RESOLVED)]),
    ], send_resolved=False)
    assert len(bodies) == 1  # as Alertmanager: a resolve alone is no news without it
    store.close()


def test_max_alerts_truncates(tmp_path: Path, hook: HttpRecorder) -> None:
    store = Store(tmp_path / "s.db")
    many = [alert(station=f"S-{i:02d}", ts=T0) for i in range(5)]
    (body,) = run(store, hook, [], [(T0, many, [(a, EventKind.FIRING) for a in many])],
                  max_alerts=2)
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3
    store.close()


def test_default_groups_flats_per_station() -> None:
    table = RouteTable([], ["r"])
    flat = alert("flat_cold", station="S-01", ts=T0)
    flat.scope, flat.subject = Scope.FLAT, "M-7"
    assert table.group(flat, "r").labels == {"alertname": "flat_cold", "station": "S-01"}
    assert table.group(alert(station="S-01"), "r").key == table.group(
        alert("pressure_drop", station="S-02"), "r").key


def test_retry_after_is_honoured(tmp_path: Path, hook: HttpRecorder) -> None:
    """A 429 with ``Retry-After: 120``: retried, but not before 120 s (not at 1, 2, 4 s)."""
    store = Store(tmp_path / "s.db")
    hook.replies = [(429, {"error": "slow down"})]
    hook.headers = {"Retry-After": "120"}
    a = alert(ts=T0)
    bodies = run(store, hook, [], [(T0, [a], [(a, EventKind.FIRING)])])
    assert len(bodies) == 1
    (row,) = store.outbox()
    assert row.status == "pending" and row.next_attempt_at == T0 + 120
    store.close()
