"""A resend carries the same de-duplication key on every channel that has one (issue #13,
item 14): the webhook's ``Idempotency-Key`` header, DingTalk's ``msgUuid`` and the email
``Message-ID``. Resends come from a retry or from a restart after a kill between the
receiver's answer and our commit (played here by delivering once, then letting a fresh
dispatcher find the row still pending). Receivers: loopback HTTP recorders and a real SMTP
server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from notify_recorder import HttpRecorder, alert, item

from alerts.notify.base import Notification
from alerts.notify.dingtalk import DingTalkConfig, DingTalkNotifier
from alerts.notify.dispatcher import Dispatcher, RetryPolicy
from alerts.notify.email import EmailConfig, EmailNotifier
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.rows import Batch
from alerts.store import Store
from heatwatch.local.servers import free_port

T = 1768478400.0


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()


def test_webhook_resend_after_a_kill_has_the_same_idempotency_key(
        store: Store, hook: HttpRecorder) -> None:
    store.commit(Batch(outbox=[item(alert(station="S-1", ts=T), receiver="hook")]))
    web = WebhookNotifier("hook", WebhookConfig(url=f"{hook.url}/hook"))
    try:
        # the killed process: the receiver took the message, the commit never happened
        note = Dispatcher(store, {"hook": web}, lambda: T).groups(T, 100)
        assert web.deliver(note[0]).ok
        # after the restart: the row is still pending and sent again
        stats = Dispatcher(store, {"hook": web}, lambda: T).run_once(T)
    finally:
        web.close()
    assert stats.sent == 1
    first, again = (r.headers["Idempotency-Key"] for r in hook.requests)
    assert first == again == "hook/makeup_surge-S-1-1:firing:1"


def test_dingtalk_retry_has_the_same_msg_uuid(store: Store, hook: HttpRecorder) -> None:
    hook.replies = [(200, {"errcode": -1, "errmsg": "system busy"})]
    ding = DingTalkNotifier("ding", DingTalkConfig(url=f"{hook.url}/robot/send",
                                                   access_token="t"))
    store.commit(Batch(outbox=[item(alert(ts=T), receiver="ding")]))
    d = Dispatcher(store, {"ding": ding}, lambda: T, RetryPolicy(initial_backoff_s=1))
    try:
        assert d.run_once(T).retried == 1
        assert d.run_once(T + 1).sent == 1
        other = ding.body(Notification.single(item(alert(station="S-09"), receiver="ding")))
    finally:
        ding.close()
    first, again = (r.body["msgUuid"] for r in hook.requests)
    assert first == again and uuid.UUID(first)
    assert other["msgUuid"] != first  # another message, another id


class FlakyMailbox:
    """Refuses the first message with a temporary error (451), takes the second; records
    the Message-ID of both."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.ids.append(str(msg["Message-ID"]))
        if len(self.ids) == 1:
            return "451 4.3.0 try again later"
        self.accepted += 1
        return "250 OK"


def test_email_retry_has_the_same_message_id(store: Store) -> None:
    box = FlakyMailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    mail = EmailNotifier("mail", EmailConfig(host="127.0.0.1", port=controller.port,
                                             tls="none", from_addr="hw@example.org",
                                             to=["crew@example.org"], timeout_s=5))
    store.commit(Batch(outbox=[item(alert(ts=T), receiver="mail")]))
    d = Dispatcher(store, {"mail": mail}, lambda: T, RetryPolicy(initial_backoff_s=1))
    try:
        assert d.run_once(T).retried == 1
        assert d.run_once(T + 1).sent == 1
    finally:
        controller.stop()
    assert box.accepted == 1
    first, again = box.ids
    assert first == again and first.startswith("<") and first.endswith("@example.org>")
