"""The robots' token bucket: never more than the quota in any window, blocked through a
throttle, refilling at the documented rate."""

from __future__ import annotations

import random

import pytest

from alerts.notify.pacing import RateLimit, TokenBucket


@pytest.mark.parametrize("seed", range(5))
def test_no_window_holds_more_than_the_quota(seed: int) -> None:
    rng = random.Random(seed)
    limit = RateLimit()  # 20 a minute, 5 at once, 15 a minute refill
    bucket = TokenBucket(limit, 0.0)
    sent: list[float] = []
    t = 0.0
    for _ in range(5000):
        t += rng.expovariate(1.0)  # about 60 attempts a minute, three times the quota
        if bucket.take(t):
            sent.append(t)
    j = 0
    for i, start in enumerate(sent):  # every window that starts at a send
        while j < len(sent) and sent[j] < start + limit.window_s:
            j += 1
        assert j - i <= limit.messages
    # and the refill is used: 15 a minute over the whole run
    assert len(sent) / (t / 60.0) == pytest.approx(limit.messages - limit.burst, rel=0.1)


def test_burst_then_refill_then_block() -> None:
    bucket = TokenBucket(RateLimit(messages=20, window_s=60, burst=10), 100.0)
    assert bucket.available(100.0) == 10
    assert all(bucket.take(100.0) for _ in range(10))
    assert not bucket.take(100.0)
    assert bucket.next_at(100.0) == pytest.approx(106.0)  # 10 per minute refill
    assert bucket.take(106.0)
    bucket.block(706.0, now=106.0)  # DingTalk's 10 minutes
    assert bucket.available(700.0) == 0 and not bucket.take(705.9)
    assert bucket.next_at(300.0) == pytest.approx(712.0)
    assert bucket.take(712.0) and not bucket.take(712.0)


def test_burst_must_leave_a_refill() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimit(messages=20, burst=20)
