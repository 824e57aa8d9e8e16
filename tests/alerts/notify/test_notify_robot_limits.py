"""DingTalk and WeCom quotas against a loopback robot that enforces them as DingTalk does
(over the quota: throttled, ``errcode 130101`` for every message of the throttle time):
paced sends never trip it, what is over the quota goes out folded into one summary, and a
throttle reply is not retried into the throttle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_recorder import HttpRecorder, alert, item

from alerts.notify.dingtalk import DingTalkConfig, DingTalkNotifier
from alerts.notify.dispatcher import Dispatcher
from alerts.notify.pacing import RateLimit
from alerts.notify.wecom import WeComConfig, WeComNotifier
from alerts.rows import Batch
from alerts.store import Store

T0 = 1768478400.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def ding(url: str, limit: RateLimit) -> DingTalkNotifier:
    config = DingTalkConfig.model_validate({"url": f"{url}/robot/send", "access_token": "tok-42",
                                           "rate_limit": limit.model_dump()})
    return DingTalkNotifier("ding", config, language="en")


def rows(n: int, start: int = 0, ts: float = T0) -> list:  # type: ignore[type-arg]
    """One alert in each of ``n`` zones: ``n`` groups, ``n`` messages without pacing."""
    return [item(alert(station=f"S-{i}", zone=f"z{i}", ts=ts), receiver="ding")
            for i in range(start, start + n)]


def test_over_the_quota_is_folded_into_one_summary(store: Store) -> None:
    robot = HttpRecorder(limit=(20, 60.0))
    notifier = ding(robot.url, RateLimit())  # 20 a minute, 5 at once
    try:
        store.commit(Batch(outbox=rows(40)))
        dispatcher = Dispatcher(store, {"ding": notifier}, lambda: T0)
        stats = dispatcher.run_once(T0)
        assert stats.messages == 5 and stats.sent == 40 and stats.folded == 36
        assert robot.refused == 0 and len(robot.requests) == 5
        summary = robot.requests[-1].body["markdown"]
        assert "[FIRING:36]" in summary["title"]
        assert "S-4" in summary["text"] and "... and 6 more alerts" in summary["text"]
        assert all(r.status == "sent" for r in store.outbox())
        # more due at once: no token left, they wait (not tried, not failed)
        store.commit(Batch(outbox=rows(3, start=40, ts=T0 + 1)))
        stats = dispatcher.run_once(T0 + 1)
        assert (stats.messages, stats.paced) == (0, 3) and len(robot.requests) == 5
        # a token is back after 60 / 15 = 4 s: all three in one message
        stats = dispatcher.run_once(T0 + 4)
        assert (stats.messages, stats.sent) == (1, 3)
    finally:
        notifier.close()
        robot.close()


def test_a_flood_in_real_time_never_trips_the_robot(store: Store) -> None:
    """Five groups every 0.1 s for 3 s against a robot allowing 20 per 2 s (the quota scaled
    down 30 times): nothing refused, nothing lost, at most 20 messages in any 2 s."""
    robot = HttpRecorder(limit=(20, 2.0), throttle_s=20.0)
    notifier = ding(robot.url, RateLimit(messages=20, window_s=2.0, burst=5))
    try:
        dispatcher = Dispatcher(store, {"ding": notifier}, time.time)
        start, n = time.monotonic(), 0
        while time.monotonic() - start < 3.0:
            now = time.time()
            store.commit(Batch(outbox=rows(5, start=n, ts=now)))
            n += 5
            dispatcher.run_once(now)
            time.sleep(0.1)
        deadline = time.monotonic() + 5.0
        while any(r.status == "pending" for r in store.outbox()):
            assert time.monotonic() < deadline
            dispatcher.run_once(time.time())
            time.sleep(0.05)
        assert robot.refused == 0
        assert all(r.status == "sent" for r in store.outbox()) and len(store.outbox()) == n
        sent = robot.accepted
        assert max(sum(1 for t in sent if s <= t < s + 2.0) for s in sent) <= 20
        assert len(robot.requests) < n / 2  # folded, not one message per group
    finally:
        notifier.close()
        robot.close()


@pytest.mark.parametrize(("code", "wait_s"), [(130101, 600.0), (45009, 60.0)])
def test_throttle_reply_waits_out_the_throttle(store: Store, code: int, wait_s: float) -> None:
    robot = HttpRecorder(limit=(1, 60.0), throttle_s=600.0, throttle_code=code)
    if code == 130101:
        notifier: DingTalkNotifier | WeComNotifier = ding(robot.url, RateLimit())
    else:
        notifier = WeComNotifier("ding", WeComConfig.model_validate(
            {"url": f"{robot.url}/cgi-bin/webhook/send", "key": "key-42"}))
    try:
        store.commit(Batch(outbox=rows(1)))
        dispatcher = Dispatcher(store, {"ding": notifier}, lambda: T0)
        assert dispatcher.run_once(T0).sent == 1
        store.commit(Batch(outbox=rows(2, start=1)))
        stats = dispatcher.run_once(T0 + 10)  # the robot's quota is 1: throttled now
        # the first is refused and waits out the throttle; the second is not even tried
        assert (stats.retried, stats.paced, robot.refused) == (1, 1, 1)
        (tried,) = [r for r in store.outbox() if r.attempts and r.status == "pending"]
        assert tried.next_attempt_at == T0 + 10 + wait_s
        asked = len(robot.requests)
        for t in (T0 + 11, T0 + 12, T0 + 14, T0 + wait_s):  # 1, 2, 4 s: nothing is sent
            dispatcher.run_once(t)
        assert len(robot.requests) == asked
    finally:
        notifier.close()
        robot.close()


def test_a_big_summary_lists_thirty_and_counts_the_rest(store: Store) -> None:
    robot = HttpRecorder()
    notifier = ding(robot.url, RateLimit())
    try:
        store.commit(Batch(outbox=rows(300)))
        stats = Dispatcher(store, {"ding": notifier}, lambda: T0).run_once(T0, limit=500)
        assert stats.sent == 300 and stats.messages == 5
        text = robot.requests[-1].body["markdown"]["text"]
        assert "... and 266 more alerts" in text  # 296 folded, 30 listed
        assert len(text.encode()) < 20000
    finally:
        notifier.close()
        robot.close()
