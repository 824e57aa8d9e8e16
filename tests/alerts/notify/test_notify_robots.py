"""DingTalk and WeCom robots against a loopback recorder playing the robot API: payloads,
DingTalk's signature checked on the server side, errcode -> retryable or not, secrets kept
out of error details, and a rate-limited message retried by the dispatcher after the
robot's throttle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_recorder import HttpRecorder, alert, item

from alerts.model import EventKind
from alerts.notify.base import Notification
from alerts.notify.dingtalk import DingTalkConfig, DingTalkNotifier, sign
from alerts.notify.dispatcher import Dispatcher, RetryPolicy
from alerts.notify.wecom import MAX_BYTES, WeComConfig, WeComNotifier, fit
from alerts.rows import Batch
from alerts.store import Store
from heatwatch.local.servers import free_port

SECRET = "SEC0123456789abcdef"
TOKEN = "tok-secret-42"


@pytest.fixture
def robot() -> Iterator[HttpRecorder]:
    r = HttpRecorder(dingtalk_secret=SECRET)
    yield r
    r.close()


@pytest.fixture
def wecom_server() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()


def dingtalk(url: str, secret: str = SECRET, **kw: object) -> DingTalkNotifier:
    config = DingTalkConfig.model_validate({"url": f"{url}/robot/send", "access_token": TOKEN,
                                           "secret": secret, **kw})
    return DingTalkNotifier("ding", config, language="zh", external_url="https://hw.example",
                            timezone="Asia/Shanghai")


def test_sign_matches_dingtalk_example_shape() -> None:
    s = sign(1700000000000, SECRET)
    assert "%" in s or s.isalnum()  # URL-encoded base64
    assert sign(1700000000000, SECRET) == s and sign(1700000000001, SECRET) != s


def test_dingtalk_signed_markdown(robot: HttpRecorder) -> None:
    notifier = dingtalk(robot.url, at_mobiles=["13800000000"])
    result = notifier.deliver(Notification.single(item(alert())))
    assert result.ok, result.detail
    (req,) = robot.requests
    assert req.path == "/robot/send" and req.query["access_token"] == TOKEN
    assert req.body["msgtype"] == "markdown"
    md = req.body["markdown"]
    assert "补水量异常" in md["title"] and "S-01" in md["title"]
    assert "4.2 %" in md["text"] and "https://hw.example/#/alerts/" in md["text"]
    assert "2026-01-15 20:00" in md["text"]  # 12:00 UTC in local time (Asia/Shanghai)
    assert "@13800000000" in md["text"] and req.body["at"]["atMobiles"] == ["13800000000"]
    notifier.close()


def test_dingtalk_wrong_secret_is_not_retryable_and_redacted(robot: HttpRecorder) -> None:
    notifier = dingtalk(robot.url, secret="SECwrong")
    result = notifier.deliver(Notification.single(item(alert())))
    assert not result.ok and not result.retryable and "310000" in result.detail
    assert TOKEN not in result.detail and "SECwrong" not in result.detail
    notifier.close()


def test_dingtalk_rate_limit_is_retried_by_the_dispatcher(robot: HttpRecorder,
                                                          tmp_path: Path) -> None:
    robot.replies = [(200, {"errcode": 130101, "errmsg": "send too fast"})]
    store = Store(tmp_path / "s.db")
    row = item(alert(), receiver="ding")
    store.commit(Batch(outbox=[row]))
    notifier = dingtalk(robot.url)
    dispatcher = Dispatcher(store, {"ding": notifier}, lambda: row.ts,
                            RetryPolicy(initial_backoff_s=2))
    assert dispatcher.run_once(row.ts).retried == 1
    # DingTalk throttles the robot for 10 minutes: no retry at 2, 4, 8 s into it
    assert all(dispatcher.run_once(row.ts + t).sent == 0 for t in (2, 4, 8, 599))
    assert len(robot.requests) == 1
    assert dispatcher.run_once(row.ts + 600).paced == 1  # the bucket refills after it
    assert dispatcher.run_once(row.ts + 604).sent == 1
    assert len(robot.requests) == 2 and store.outbox()[0].status == "sent"
    notifier.close()
    store.close()


def test_dingtalk_unreachable_is_retryable() -> None:
    notifier = dingtalk(f"http://127.0.0.1:{free_port()}")
    result = notifier.deliver(Notification.single(item(alert())))
    assert not result.ok and result.retryable and TOKEN not in result.detail
    notifier.close()


def wecom(url: str, language: str = "zh") -> WeComNotifier:
    config = WeComConfig.model_validate({"url": f"{url}/cgi-bin/webhook/send", "key": "k-1",
                                        "language": language})
    return WeComNotifier("wecom", config, external_url="https://hw.example")


def test_wecom_markdown(wecom_server: HttpRecorder) -> None:
    notifier = wecom(wecom_server.url)
    cold = alert("zone_cold", None, value=0.31, annotations={
        "flats_affected": "37", "flats_total": "120", "min_indoor_c": "14.2",
        "median_indoor_c": "17.1"}, )
    assert notifier.deliver(Notification.single(item(cold))).ok
    (req,) = wecom_server.requests
    assert req.path == "/cgi-bin/webhook/send" and req.query == {"key": "k-1"}
    assert req.body["msgtype"] == "markdown"
    content = req.body["markdown"]["content"]
    assert "住户室温过低" in content and "120 户中 37 户" in content
    assert "最低 14.2 °C" in content and "中位数 17.1 °C" in content
    notifier.close()


@pytest.mark.parametrize(("errcode", "retryable"), [(45009, True), (-1, True),
                                                    (93000, False)])
def test_wecom_errcodes(wecom_server: HttpRecorder, errcode: int, retryable: bool) -> None:
    wecom_server.replies = [(200, {"errcode": errcode, "errmsg": "x"})]
    notifier = wecom(wecom_server.url)
    result = notifier.deliver(Notification.single(item(alert())))
    assert not result.ok and result.retryable is retryable
    assert "k-1" not in result.detail
    notifier.close()


def test_wecom_http_errors(wecom_server: HttpRecorder) -> None:
    wecom_server.replies = [(502, {}), (404, {})]
    notifier = wecom(wecom_server.url)
    note = Notification.single(item(alert()))
    assert notifier.deliver(note).retryable
    assert not notifier.deliver(note).retryable
    notifier.close()


def test_wecom_long_group_fits_4096_bytes(wecom_server: HttpRecorder) -> None:
    rows = tuple(item(alert(station=f"S-{i:03}"), EventKind.FIRING) for i in range(120))
    note = Notification("wecom", "g", {"alertname": "makeup_surge"}, rows)
    notifier = wecom(wecom_server.url)
    assert notifier.deliver(note).ok
    content = wecom_server.requests[0].body["markdown"]["content"]
    assert len(content.encode()) <= MAX_BYTES and content.endswith(")")
    assert fit("a\nb", 10) == "a\nb"
    notifier.close()
