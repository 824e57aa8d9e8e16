"""Alertmanager channel against Debian's real ``prometheus-alertmanager`` on a free loopback
port: the pushed alert is listed active with our labels and annotations; the resolved push
ends it (Alertmanager stops listing it and tells its own receivers "resolved", with our
resolve time as endsAt)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_helpers import wait_for
from notify_recorder import HttpRecorder, alert, item, resolved

from alerts.model import EventKind
from alerts.notify.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from alerts.notify.base import Notification
from alerts.notify.webhook import rfc3339
from heatwatch.local.servers import ServerError, _find_binary, _Process, free_port

pytestmark = pytest.mark.servers


class AlertmanagerServer(_Process):
    """Alertmanager with its own config and storage, clustering off."""

    name = "alertmanager"

    def __init__(self, run_dir: Path, webhook_url: str) -> None:
        super().__init__(run_dir, None)
        self.binary = _find_binary("prometheus-alertmanager",
                                   ("/usr/bin/prometheus-alertmanager",))
        self.webhook_url = webhook_url
        self.url = f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        conf = self.run_dir / "alertmanager.yml"
        conf.write_text(json.dumps({  # YAML is a superset of JSON
            "route": {"receiver": "hook", "group_by": ["alertname", "station"],
                      "group_wait": "100ms", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [
                {"url": self.webhook_url, "send_resolved": True}]}],
        }))
        (self.run_dir / "data").mkdir(exist_ok=True)
        return [self.binary, f"--config.file={conf}", f"--storage.path={self.run_dir}/data",
                f"--web.listen-address={self.host}:{self.port}", "--cluster.listen-address=",
                "--log.level=warn"]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ServerError(f"alertmanager not ready on {self.url}")


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: HttpRecorder) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(tmp_path / "am", f"{hook.url}/am")
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
    config = AlertmanagerConfig(url=alertmanager.url, firing_ttl_s=3600)
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
