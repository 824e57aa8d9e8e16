"""The ``notifications`` block: every channel and route validates at start-up, names are
unique, routes name existing receivers, secrets stay out of reprs, and the service builds a
notifier per receiver."""

from __future__ import annotations

import pytest

from alerts.notify.channels import build_notifiers
from alerts.settings import load_alerts_settings
from heatwatch.settings import ConfigError

FULL = {
    "external_url": "https://hw.example", "language": "zh", "timezone": "Asia/Shanghai",
    "webhooks": {"oncall": {"url": "http://127.0.0.1:1/hook"}},
    "email": {"mail": {"host": "smtp.example.org", "username": "u", "password": "pw-123",
                       "from_addr": "hw@example.org", "to": ["crew@example.org"]}},
    "mqtt": {"scada": {"prefix": "heat"}},
    "alertmanager": {"am": {"url": "http://127.0.0.1:9093", "bearer_token": "tok-123"}},
    "dingtalk": {"ding": {"access_token": "at-123", "secret": "SEC-123"}},
    "wecom": {"wx": {"key": "key-123"}},
    "routes": [
        {"name": "north", "zones": ["north"], "kinds": ["leak"], "receivers": ["ding"],
         "continue": True, "escalate": {"after_s": 900, "receivers": ["mail"]}},
        {"receivers": ["oncall", "scada", "am", "wx"]},
    ],
}


def test_full_block_validates_and_builds() -> None:
    s = load_alerts_settings(None, notifications=FULL)
    n = s.notifications
    assert n.receiver_names() == ["oncall", "mail", "scada", "am", "ding", "wx"]
    assert n.routes[0].continue_ and n.routes[0].escalate is not None
    text = repr(s)
    assert all(secret not in text for secret in ("pw-123", "tok-123", "at-123", "SEC-123",
                                                  "key-123"))
    notifiers = build_notifiers(n)
    try:
        assert sorted(notifiers) == sorted(n.receiver_names())
    finally:
        for notifier in notifiers.values():
            notifier.close()


@pytest.mark.parametrize(("block", "message"), [
    ({"webhooks": {"x": {"url": "http://a"}}, "wecom": {"x": {"key": "k"}}}, "unique"),
    ({"webhooks": {"x": {"url": "http://a"}}, "routes": [{"receivers": ["y"]}]},
     "unknown receivers"),
    ({"routes": [{"zones": ["north"]}]}, "needs receivers"),
    ({"timezone": "Mars/Olympus"}, "time zone"),
    ({"dingtalk": {"d": {}}}, r"notifications\.dingtalk\.d\.access_token"),
    ({"webhooks": {"_route": {"url": "http://a"}}}, "reserved"),
    ({"mqtt": {"a": {}, "b": {}}}, "client_id"),
])
def test_errors_name_the_problem(block: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_alerts_settings(None, notifications=block)
