"""Email over SMTP (stdlib ``smtplib``, run in the delivery thread like every channel).

Why smtplib and not aiosmtplib: the dispatcher is synchronous (one delivery thread), so a
blocking client with a timeout is the simplest thing that works. STARTTLS is on by default
(port 587) and the server certificate is verified (``ca_file`` for a private CA); implicit TLS
(port 465) with ``tls: implicit``. The message is multipart: plain text for any client, HTML
for those that show it. Errors are sorted at this boundary: 4xx replies, dropped connections
and timeouts are retryable; 5xx replies, refused recipients, failed login and certificate
errors are the configuration's fault and are not.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.notify.base import Notification, SendResult
from alerts.notify.render import Language, Renderer
from alerts.notify.templates import TemplateSet

__all__ = ["EmailConfig", "EmailNotifier"]


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1)
    language: Language | None = None
    timeout_s: float = Field(default=15.0, gt=0)


def _reply_code(exc: smtplib.SMTPException) -> int:
    return int(getattr(exc, "smtp_code", 0) or 0)


def smtp_result(exc: smtplib.SMTPException | OSError) -> SendResult:
    """Translate what smtplib and the socket raise into a channel result."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendResult(ok=False, retryable=False, detail=detail)
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError):
        return SendResult(ok=False, retryable=False, detail=detail)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return SendResult(ok=False, retryable=all(400 <= c < 500 for c in codes),
                          detail=detail)
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return SendResult(ok=False, retryable=True, detail=detail)
    code = _reply_code(exc)
    return SendResult(ok=False, retryable=code == 0 or 400 <= code < 500, detail=detail)


class EmailNotifier:
    def __init__(self, name: str, config: EmailConfig, *, language: Language = "en",
                 external_url: str = "", timezone: str = "UTC",
                 templates: TemplateSet | None = None) -> None:
        self.name = name
        self.config = config
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone, templates=templates)
        self._tls = ssl.create_default_context(
            cafile=str(config.ca_file) if config.ca_file else None)

    def message(self, note: Notification) -> EmailMessage:
        out = self.renderer.for_language(note.language).render(note)
        msg = EmailMessage()
        msg["Subject"] = out.title
        msg["From"] = self.config.from_addr
        msg["To"] = ", ".join(self.config.to)
        msg["Date"] = formatdate(localtime=False)
        # Stable across resends of the same rows: mail servers and clients that drop a second
        # copy of a Message-ID do so for the rare repeat after a kill mid-send.
        msg["Message-ID"] = f"<{note.uuid.hex}@{self.config.from_addr.rsplit('@', 1)[1]}>"
        msg["X-Heatwatch-Key"] = note.key  # idempotency key, for filters that drop repeats
        msg.set_content(out.text)
        msg.add_alternative(out.html, subtype="html")
        return msg

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls == "implicit":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self._tls)
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        if c.tls == "starttls":
            smtp.starttls(context=self._tls)
        return smtp

    def deliver(self, note: Notification) -> SendResult:
        c = self.config
        msg = self.message(note)
        try:
            with self._connect() as smtp:
                if c.username is not None:
                    smtp.login(c.username, c.password.get_secret_value() if c.password else "")
                refused = smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            return smtp_result(exc)
        if refused:  # some recipients took it: retrying would duplicate theirs
            return SendResult(ok=True, detail=f"refused by {sorted(refused)}")
        return SendResult(ok=True, detail=f"to {len(c.to)} recipient(s)")

    def close(self) -> None:
        """Nothing to close: a connection per message (alert mail is rare, servers drop
        idle sessions)."""
