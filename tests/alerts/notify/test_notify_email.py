"""Email channel against a real SMTP server on loopback (aiosmtpd) that requires STARTTLS
(self-signed certificate made here with the openssl CLI) and AUTH before it takes mail."""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from notify_recorder import alert, item, resolved

from alerts.model import EventKind
from alerts.notify.base import Notification
from alerts.notify.email import EmailConfig, EmailNotifier
from heatwatch.local.servers import free_port

USER, PASSWORD = "heatwatch", "s3cret-pw"


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    rcpt: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return crt, key


@pytest.fixture
def smtp(cert: tuple[Path, Path]) -> Iterator[tuple[Controller, Mailbox]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=ctx,
                            require_starttls=True, authenticator=authenticate,
                            auth_require_tls=True)
    controller.start()
    yield controller, box
    controller.stop()


def notifier(port: int, cert: Path, language: str = "en", password: str = PASSWORD,
             **kw: object) -> EmailNotifier:
    config = EmailConfig.model_validate({
        "host": "127.0.0.1", "port": port, "ca_file": str(cert), "username": USER,
        "password": password, "from_addr": "heatwatch@example.org",
        "to": ["crew-north@example.org", "duty@example.org"], "language": language,
        "timeout_s": 5, **kw})
    return EmailNotifier("mail", config, external_url="https://hw.example",
                         timezone="Europe/Berlin")


def test_starttls_auth_text_and_html(smtp: tuple[Controller, Mailbox],
                                     cert: tuple[Path, Path]) -> None:
    controller, box = smtp
    rows = tuple(item(alert(station=s)) for s in ("S-01", "S-02"))
    note = Notification("mail", "g", {"alertname": "makeup_surge", "zone": "north"}, rows)
    result = notifier(controller.port, cert[0]).deliver(note)
    assert result.ok, result.detail
    (msg,) = box.messages
    assert box.rcpt == [["crew-north@example.org", "duty@example.org"]]
    assert msg["Subject"] == "[FIRING:2] Make-up water surge (possible leak) – zone north"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content()
    assert "S-01" in text and "S-02" in text and "make-up 4.2 % of circulating flow" in text
    assert "since 2026-01-15 13:00" in text  # local time (Europe/Berlin)
    assert "https://hw.example/#/alerts/makeup_surge-S-01-1" in text
    assert '<a href="https://hw.example/#/alerts/makeup_surge-S-02-1">' in html.get_content()


def test_chinese_resolved(smtp: tuple[Controller, Mailbox], cert: tuple[Path, Path]) -> None:
    controller, box = smtp
    a = resolved(alert(), 1768478400.0 + 1800)
    assert notifier(controller.port, cert[0], "zh").deliver(
        Notification.single(item(a, EventKind.RESOLVED))).ok
    (msg,) = box.messages
    assert msg["Subject"].startswith("[已恢复] 补水量异常")
    plain = msg.get_body(("plain",))
    assert plain is not None and "恢复于 2026-01-15 13:30" in plain.get_content()


def test_wrong_password_is_not_retryable(smtp: tuple[Controller, Mailbox],
                                         cert: tuple[Path, Path]) -> None:
    controller, box = smtp
    result = notifier(controller.port, cert[0], password="wrong").deliver(
        Notification.single(item(alert())))
    assert not result.ok and not result.retryable and "535" in result.detail
    assert "wrong" not in result.detail and box.messages == []


def test_untrusted_certificate_is_not_retryable(smtp: tuple[Controller, Mailbox],
                                                tmp_path: Path) -> None:
    controller, _ = smtp
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "k.pem"), "-out", str(other), "-days", "1",
                    "-subj", "/CN=other"], check=True, capture_output=True, timeout=60)
    result = notifier(controller.port, other).deliver(Notification.single(item(alert())))
    assert not result.ok and not result.retryable and "CERTIFICATE" in result.detail.upper()


def test_server_down_is_retryable(cert: tuple[Path, Path]) -> None:
    result = notifier(free_port(), cert[0]).deliver(Notification.single(item(alert())))
    assert not result.ok and result.retryable
