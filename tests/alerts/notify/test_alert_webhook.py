"""Webhook notifier and dispatcher against a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_helpers import T0, Clock, EngineFactory, Receiver, drive, healthy

from alerts.notify.dispatcher import Dispatcher, RetryPolicy
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.store import Store
from heatwatch.local.servers import free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def dispatcher_for(store: Store, url: str, clock: Clock) -> Dispatcher:
    config = WebhookConfig.model_validate({
        "url": url, "timeout_s": 2, "external_url": "http://heatwatch",
        "headers": {"Authorization": "Bearer hook-secret"}})
    notifier = WebhookNotifier("webhook", config)
    return Dispatcher(store, {"webhook": notifier}, clock,
                      RetryPolicy(initial_backoff_s=1, max_backoff_s=8))


def test_alertmanager_payload_firing_and_resolved(make_engine: EngineFactory, clock: Clock,
                                                  store: Store, receiver: Receiver) -> None:
    engine = make_engine()
    dispatcher = dispatcher_for(store, receiver.url, clock)
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    assert dispatcher.run_once(T0).sent == 1
    drive(engine, clock, [(60, [healthy("s1", T0 + 60)])])
    assert dispatcher.run_once(T0 + 60).sent == 1

    firing, resolved = receiver.bodies
    assert firing["version"] == "4" and firing["status"] == "firing"
    assert firing["receiver"] == "webhook"
    assert firing["groupKey"] == '{}:{alertname="power_loss", station="s1"}'
    assert firing["groupLabels"] == {"alertname": "power_loss", "station": "s1"}
    alert = firing["alerts"][0]
    assert alert["labels"] == {"alertname": "power_loss", "severity": "critical", "station": "s1",
                               "zone": "unassigned"}
    assert alert["startsAt"] == "2026-01-15T12:00:00.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert len(alert["fingerprint"]) == 16
    assert "lost mains power" in alert["annotations"]["summary"]
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2026-01-15T12:01:00.000Z"
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    keys = [h["Idempotency-Key"] for h in receiver.headers]
    assert len(set(keys)) == 2 and keys[0].startswith("webhook/")
    assert {h["Authorization"] for h in receiver.headers} == {"Bearer hook-secret"}


def test_retry_after_503_with_backoff(make_engine: EngineFactory, clock: Clock,
                                      store: Store, receiver: Receiver) -> None:
    receiver.codes = [503, 503]
    engine = make_engine()
    dispatcher = dispatcher_for(store, receiver.url, clock)
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    assert dispatcher.run_once(T0).retried == 1
    assert dispatcher.run_once(T0 + 0.5).sent == 0  # backing off (1 s)
    assert dispatcher.run_once(T0 + 1).retried == 1  # second 503: now 2 s
    assert dispatcher.run_once(T0 + 2.5).sent == 0
    assert dispatcher.run_once(T0 + 3).sent == 1
    assert len(receiver.bodies) == 3
    (row,) = store.outbox()
    assert row.status == "sent" and row.attempts == 3


def test_no_retry_after_400(make_engine: EngineFactory, clock: Clock, store: Store,
                            receiver: Receiver) -> None:
    receiver.codes = [400]
    engine = make_engine()
    dispatcher = dispatcher_for(store, receiver.url, clock)
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    stats = dispatcher.run_once(T0)
    assert stats.failed == 1 and stats.retried == 0
    assert dispatcher.run_once(T0 + 3600).sent == 0
    assert len(receiver.bodies) == 1
    (row,) = store.outbox()
    assert row.status == "failed" and row.last_error is not None and "400" in row.last_error


def test_unreachable_receiver_is_retried(make_engine: EngineFactory, clock: Clock,
                                         store: Store) -> None:
    engine = make_engine()
    dispatcher = dispatcher_for(store, f"http://127.0.0.1:{free_port()}/hook", clock)
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    assert dispatcher.run_once(T0).retried == 1
    assert store.outbox()[0].status == "pending"


def test_resolved_waits_for_its_firing(make_engine: EngineFactory, clock: Clock,
                                       store: Store, receiver: Receiver) -> None:
    receiver.codes = [503]
    engine = make_engine()
    dispatcher = dispatcher_for(store, receiver.url, clock)
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    dispatcher.run_once(T0)  # firing: 503, backs off
    drive(engine, clock, [(0.5, [healthy("s1", T0 + 0.5)])])
    stats = dispatcher.run_once(T0 + 0.5)  # resolved is due but must not overtake
    assert stats.sent == 0 and stats.retried == 0
    dispatcher.run_once(T0 + 1)
    dispatcher.run_once(T0 + 1)
    assert [b["status"] for b in receiver.bodies] == ["firing", "firing", "resolved"]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=1, max_backoff_s=10)
    assert [policy.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
