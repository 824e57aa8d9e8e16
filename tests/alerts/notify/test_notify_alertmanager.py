"""Alertmanager channel against Debian's real ``prometheus-alertmanager`` on a free loopback
port: the pushed alert is listed active with our labels and annotations; the resolved push
ends it (Alertmanager stops listing it and tells its own receivers "resolved", with our
resolve time as endsAt). Firing alerts are leases renewed every ``resend_s`` (gone within
4 x ``resend_s`` when nobody renews them); a severity change ends the old label set at once.
And Alertmanager's own webhook on a partial resolve has the shape our webhook sends."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from notify_recorder import HttpRecorder, alert, item, resolved
from support import wait_for

from alerts.model import EventKind, Severity, Signal
from alerts.notify.alertmanager import LEASES, AlertmanagerConfig, AlertmanagerNotifier
from alerts.notify.base import Notification
from alerts.notify.delivery import Pipeline
from alerts.notify.webhook import WebhookConfig, WebhookNotifier, rfc3339
from alerts.routing import RouteTable
from alerts.rows import Batch
from alerts.store import Store
from heatwatch.local.servers import AlertmanagerServer, free_port

pytestmark = pytest.mark.servers


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: HttpRecorder) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(tmp_path / "am", f"{hook.url}/am",
                                group_by=("alertname", "station"), group_wait="100ms")
    server.start()
    yield server
    server.stop()


def listed(am: AlertmanagerServer) -> list[dict[str, Any]]:
    resp = httpx.get(f"{am.url}/api/v2/alerts", params={"filter": 'source="heatwatch"'})
    resp.raise_for_status()
    data: list[dict[str, Any]] = resp.json()
    return data




def test_push_firing_then_resolved(alertmanager: AlertmanagerServer,
                                   hook: HttpRecorder) -> None:
    now = time.time()
    leak = alert(ts=round(now - 60, 3))
    config = AlertmanagerConfig(url=alertmanager.url)
    notifier = AlertmanagerNotifier("am", config, language="en",
                                    external_url="https://hw.example")
    try:
        assert notifier.deliver(Notification.single(item(leak))).ok
        (got,) = listed(alertmanager)
        assert got["status"]["state"] == "active"
        assert got["labels"] == {"alertname": "makeup_surge", "severity": "critical",
                                 "station": "S-01", "zone": "north", "source": "heatwatch"}
        assert got["annotations"]["description"] == (
            "make-up 4.2 % of circulating flow (0.42 of 10 m³/h)")
        assert got["annotations"]["alert_id"] == leak.id
        assert got["generatorURL"] == f"https://hw.example/#/alerts/{leak.id}"
        assert got["startsAt"] == rfc3339(leak.fired_at)
        ends = dt.datetime.fromisoformat(got["endsAt"]).timestamp()
        assert ends == pytest.approx(time.time() + LEASES * config.resend_s, abs=5)
        wait_for(lambda: any(r.body["status"] == "firing" for r in hook.requests), 10.0, poll=0.1)

        done = resolved(leak, round(time.time(), 3))
        assert notifier.deliver(Notification.single(item(done, EventKind.RESOLVED))).ok
        assert listed(alertmanager) == []  # ended: no longer active
        wait_for(lambda: any(r.body["status"] == "resolved" for r in hook.requests), 10.0, poll=0.1)
        (last,) = [r for r in hook.requests if r.body["status"] == "resolved"]
        (am_alert,) = last.body["alerts"]
        assert am_alert["status"] == "resolved"
        assert am_alert["endsAt"].startswith(rfc3339(done.resolved_at)[:19])
    finally:
        notifier.close()


def test_refused_and_unreachable(alertmanager: AlertmanagerServer) -> None:
    with pytest.raises(ValueError, match="label names"):
        AlertmanagerConfig(url=alertmanager.url, extra_labels={"bad label": "x"})
    # past the config check (as an older heatwatch might send): Alertmanager says 400
    bad = AlertmanagerNotifier("am", AlertmanagerConfig.model_construct(
        url=alertmanager.url, extra_labels={"bad label": "x"}))
    result = bad.deliver(Notification.single(item(alert())))
    assert not result.ok and not result.retryable and "400" in result.detail
    bad.close()
    down = AlertmanagerNotifier("am", AlertmanagerConfig(url=f"http://127.0.0.1:{free_port()}"))
    result = down.deliver(Notification.single(item(alert())))
    assert not result.ok and result.retryable
    down.close()


def test_firing_alerts_are_leases_renewed_by_the_worker(alertmanager: AlertmanagerServer,
                                                        tmp_path: Path) -> None:
    """Sent firing and renewed by ``Pipeline.refresh`` (what the receiver's worker calls):
    still active long after its first lease; the refreshes stop (heatwatch gone): it ends by
    itself within the lease, not after days."""
    store = Store(tmp_path / "s.db")
    leak = alert(ts=round(time.time() - 60, 3))
    config = AlertmanagerConfig(url=alertmanager.url, resend_s=0.5)  # lease: 2 s
    notifier = AlertmanagerNotifier("am", config)
    pipeline = Pipeline(store, RouteTable([], ["am"]), {"am": notifier}, time.time)
    try:
        store.commit(Batch(alerts={leak.id: (leak, Signal.FIRE)},
                           outbox=[item(leak, receiver="am")]))
        assert pipeline.dispatcher.run_once(time.time()).sent == 1
        assert len(listed(alertmanager)) == 1
        deadline = time.monotonic() + 4.0  # twice the lease
        while time.monotonic() < deadline:
            result = pipeline.refresh("am", time.time())
            assert result is None or result.ok
            time.sleep(0.1)
        assert [a["status"]["state"] for a in listed(alertmanager)] == ["active"]
        stopped = time.monotonic()
        wait_for(lambda: listed(alertmanager) == [], 10.0, poll=0.2)
        assert time.monotonic() - stopped <= LEASES * config.resend_s + 1.5
    finally:
        notifier.close()
        store.close()


def test_severity_change_ends_the_old_label_set(alertmanager: AlertmanagerServer) -> None:
    notifier = AlertmanagerNotifier("am", AlertmanagerConfig(url=alertmanager.url))
    warning = alert(ts=round(time.time() - 60, 3), severity=Severity.WARNING)
    critical = dataclasses.replace(warning, severity=Severity.CRITICAL)
    try:
        assert notifier.deliver(Notification.single(item(warning))).ok
        assert [a["labels"]["severity"] for a in listed(alertmanager)] == ["warning"]
        assert notifier.deliver(Notification.single(item(critical, EventKind.SEVERITY))).ok
        assert [a["labels"]["severity"] for a in listed(alertmanager)] == ["critical"]
        done = resolved(critical, round(time.time(), 3))
        assert notifier.deliver(Notification.single(item(done, EventKind.RESOLVED))).ok
        assert listed(alertmanager) == []
    finally:
        notifier.close()


@pytest.fixture
def zone_am(tmp_path: Path, hook: HttpRecorder) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(tmp_path / "am-zone", f"{hook.url}/am", group_by=("zone",),
                                group_wait="100ms")
    server.start()
    yield server
    server.stop()


def test_webhook_has_alertmanagers_shape_on_a_partial_resolve(
        zone_am: AlertmanagerServer, hook: HttpRecorder, tmp_path: Path) -> None:
    """The same two leaks, one resolving, through the real Alertmanager (grouped by zone) and
    through our webhook (grouped by zone, no routes): the same keys, the same group status
    (firing) and the same per-station statuses."""
    t0 = round(time.time() - 60, 3)
    a, b = alert(station="S-01", ts=t0), alert(station="S-02", ts=t0)
    a_done = resolved(a, round(time.time(), 3))
    am = AlertmanagerNotifier("am", AlertmanagerConfig(url=zone_am.url))
    try:
        assert am.deliver(Notification("am", "k", {}, (item(a), item(b)))).ok
        wait_for(lambda: len(hook.requests) >= 1, 10.0, poll=0.1)
        assert am.deliver(Notification.single(item(a_done, EventKind.RESOLVED))).ok
        wait_for(lambda: any(x["status"] == "resolved" for r in hook.requests
                             for x in r.body["alerts"]), 10.0, poll=0.1)
    finally:
        am.close()
    theirs = next(r.body for r in hook.requests if any(
        x["status"] == "resolved" for x in r.body["alerts"]))

    ours_hook = HttpRecorder()
    store = Store(tmp_path / "s.db")
    web = WebhookNotifier("hook", WebhookConfig(url=f"{ours_hook.url}/hook"))
    pipeline = Pipeline(store, RouteTable([], ["hook"]), {"hook": web}, time.time)
    try:
        store.commit(Batch(alerts={x.id: (x, Signal.FIRE) for x in (a, b)},
                           outbox=[item(a, receiver="hook"), item(b, receiver="hook")]))
        pipeline.dispatcher.run_once(time.time())
        store.commit(Batch(alerts={a.id: (a_done, Signal.CLEAR)},
                           outbox=[item(a_done, EventKind.RESOLVED, receiver="hook")]))
        pipeline.dispatcher.run_once(time.time())
        ours = ours_hook.requests[-1].body
    finally:
        web.close()
        ours_hook.close()
        store.close()

    assert set(ours) == set(theirs)
    assert ours["status"] == theirs["status"] == "firing"
    assert ours["version"] == theirs["version"] == "4"
    assert ours["groupLabels"] == theirs["groupLabels"] == {"zone": "north"}

    def statuses(body: dict[str, Any]) -> dict[str, str]:
        return {x["labels"]["station"]: x["status"] for x in body["alerts"]}

    assert statuses(ours) == statuses(theirs) == {"S-01": "resolved", "S-02": "firing"}
    for mine, real in zip(sorted(ours["alerts"], key=lambda x: x["labels"]["station"]),
                          sorted(theirs["alerts"], key=lambda x: x["labels"]["station"]),
                          strict=True):
        assert set(mine) == set(real)
        assert (mine["endsAt"] == "0001-01-01T00:00:00Z") == (
            real["endsAt"] == "0001-01-01T00:00:00Z")
