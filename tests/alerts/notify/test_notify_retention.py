"""Retention of the state database and ``notification_failed`` (issue #13, item 13).

Before, the outbox, events and alerts tables grew for ever, and a page still unsent after its
retry budget was marked failed with no one told. Receivers here are loopback HTTP recorders
speaking the real webhook format."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
from alert_helpers import T0
from notify_recorder import HttpRecorder, alert, item, resolved

from alerts.model import AlertEvent, EventKind, Signal
from alerts.notify.delivery import NOTIFICATION_FAILED, Pipeline
from alerts.notify.dispatcher import RetryPolicy
from alerts.notify.influx import CURSOR, AlertEventSink
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.notify.workers import DAY, Delivery, RetentionSettings
from alerts.routing import RouteTable
from alerts.rows import Batch, EventRecord
from alerts.settings import load_alerts_settings
from alerts.store import Store
from heatwatch.settings import ConfigError, InfluxSettings


@pytest.fixture
def hooks() -> Iterator[dict[str, HttpRecorder]]:
    r = {"crew": HttpRecorder(), "ops": HttpRecorder()}
    yield r
    for h in r.values():
        h.close()


def webhooks(hooks: dict[str, HttpRecorder]) -> dict[str, WebhookNotifier]:
    return {n: WebhookNotifier(n, WebhookConfig(url=f"{h.url}/hook")) for n, h in hooks.items()}


def test_page_refused_for_good_raises_notification_failed_to_the_fallback(
        store: Store, hooks: dict[str, HttpRecorder]) -> None:
    hooks["crew"].replies = [(400, {"error": "unknown channel"})]
    notifiers = webhooks(hooks)
    p = Pipeline(store, RouteTable([], ["crew", "ops"]), notifiers, lambda: T0,
                 fallback_receiver="ops")
    leak = alert("makeup_surge", "S-7", ts=T0)
    store.commit(Batch(outbox=[item(leak, receiver="crew")]))
    p.run_once(T0)
    p.run_once(T0)
    for n in notifiers.values():
        n.close()
    (page,) = [r.body for r in hooks["ops"].requests]
    (failed,) = page["alerts"]
    assert failed["labels"] == {"alertname": NOTIFICATION_FAILED, "severity": "critical"}
    notes = failed["annotations"]
    assert (notes["receiver"], notes["failed_alert_id"], notes["failed_station"]) == (
        "crew", leak.id, "S-7")
    assert "HTTP 400" in notes["error"]
    # logged as an event too, so InfluxDB alert_events (Grafana) shows it
    assert [r.event.alert.rule for _, r in store.events()] == [NOTIFICATION_FAILED]


def test_page_unsent_after_its_retry_budget_raises_notification_failed(
        store: Store, hooks: dict[str, HttpRecorder]) -> None:
    hooks["crew"].replies = [(503, {"error": "busy"})] * 5
    notifiers = webhooks(hooks)
    p = Pipeline(store, RouteTable([], ["crew", "ops"]), notifiers, lambda: T0,
                 RetryPolicy(initial_backoff_s=1, give_up_after_s=10),
                 fallback_receiver="ops")
    store.commit(Batch(outbox=[item(alert(ts=T0), receiver="crew")]))
    p.run_once(T0)
    assert hooks["ops"].requests == []  # retrying: nobody bothered yet
    p.run_once(T0 + 11)
    p.run_once(T0 + 11)
    for n in notifiers.values():
        n.close()
    assert [r.status for r in store.outbox() if r.receiver == "crew"] == ["failed"]
    (page,) = [r.body for r in hooks["ops"].requests]
    assert page["alerts"][0]["labels"]["alertname"] == NOTIFICATION_FAILED
    assert "HTTP 503" in page["alerts"][0]["annotations"]["error"]


def test_the_fallback_must_be_a_receiver() -> None:
    with pytest.raises(ConfigError, match="fallback_receiver 'ops' is not a configured"):
        load_alerts_settings(None, notifications={
            "webhooks": {"crew": {"url": "http://127.0.0.1:1/"}}, "fallback_receiver": "ops"})


def test_retention_prunes_old_rows_but_not_what_is_still_needed(store: Store) -> None:
    now = T0 + 400 * DAY
    old = T0  # 400 days ago
    gone = resolved(alert("power_loss", "S-1", ts=old), old + 60)
    still_open = alert("makeup_surge", "S-2", ts=old)  # an incident open for 400 days
    recent = resolved(alert("power_loss", "S-3", ts=now - DAY), now - DAY + 60)
    late = resolved(alert("power_loss", "S-5", ts=old), now - 60)
    store.commit(Batch(
        alerts={a.id: (a, Signal.CLEAR if a.resolved_at else Signal.FIRE)
                for a in (gone, still_open, recent, late)},
        events=[EventRecord(AlertEvent(EventKind.FIRING, a.fired_at or 0.0, a, 1))
                for a in (gone, still_open, recent)],
        outbox=[dataclasses.replace(item(a, receiver="crew"), status="sent")
                for a in (gone, still_open, recent)]
        + [item(alert("power_loss", "S-4", ts=old), receiver="crew")]  # old, still pending
        # an old incident that just resolved: its resolved (pending) needs the sent firing
        + [dataclasses.replace(item(alert("power_loss", "S-5", ts=old), receiver="crew"),
                               status="sent"),
           item(late, EventKind.RESOLVED, receiver="crew", seq=2)],
    ))
    # the InfluxDB sink has written the first two events only
    store.set_cursor(CURSOR, store.events()[1][0])
    delivery = Delivery(store, Pipeline(store, RouteTable([], ["crew"]), {}, lambda: now),
                        {}, interval_s=1, stop=threading.Event(),
                        sink=AlertEventSink(InfluxSettings(url="http://127.0.0.1:1")),  # its cursor
                        retention=RetentionSettings(outbox_days=30, events_days=90,
                                                    alerts_days=365),
                        clock=lambda: now)
    delivery.route_step()
    assert {a.id for a in store.alerts()} == {still_open.id, recent.id, late.id}
    assert {r.event.alert.id for _, r in store.events()} == {recent.id}  # history: any alert
    assert sorted(r.alert.station or "" for r in store.outbox()) == [
        "S-2", "S-3", "S-4", "S-5", "S-5"]
    # an old event InfluxDB has not got yet stays until the sink has written it
    store.set_cursor(CURSOR, 0)
    store.commit(Batch(events=[EventRecord(AlertEvent(EventKind.RESOLVED, old, gone, 2))]))
    delivery._next_prune = float("-inf")
    delivery.route_step()
    assert gone.id in {r.event.alert.id for _, r in store.events()}

