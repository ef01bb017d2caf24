"""E-mail over SMTP (the standard library's ``smtplib``).

Configuration (a dict, from the site's ``email`` channel settings)::

    host, port:   the mail server (port default 587 with STARTTLS, 465 with ``ssl``)
    security:     "starttls" (default), "ssl" or "none" (a relay on the local network)
    username, password: credentials, when the server asks for them
    from:         the sender address, e.g. "Trung tâm PVHCC <noreply@example.gov.vn>"
    subject:      the subject per language, {"vi": "…", "en": "…"} (default below)

The message's ``to`` is the address; its ``text`` the body (plain text, UTF-8). The outbox's
idempotency key becomes the ``Message-ID`` (``<key@motcua>``, characters a Message-ID may not
hold turned into dots), so a mail sent again after a crash is recognisable (mail clients and
many servers drop a repeated Message-ID).

Answers: a 4xx reply, a dropped or refused connection and a timeout are retried; a 5xx reply
(an unknown mailbox, a refused sender, failed authentication) is permanent.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from messaging.base import Message, Outcome

DEFAULT_SUBJECT = {"vi": "Thông báo từ Trung tâm Phục vụ hành chính công",
                   "en": "Notice from the Public Administration Service Centre"}
ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def message_id(key: str) -> str:
    return "<" + re.sub(r"[^A-Za-z0-9_-]", ".", key) + "@motcua>"


@dataclass
class SmtpChannel:
    config: dict[str, Any] = field(default_factory=dict)
    name: str = "email"
    max_length: int | None = None

    def __post_init__(self) -> None:
        c = self.config
        if not c.get("host"):
            raise ValueError("an e-mail channel needs the mail server's host")
        if not c.get("from"):
            raise ValueError("an e-mail channel needs the sender address (from)")
        self.security = str(c.get("security") or "starttls")
        if self.security not in ("starttls", "ssl", "none"):
            raise ValueError("security: starttls, ssl or none")
        self.port = int(c.get("port") or (465 if self.security == "ssl" else 587))

    def email(self, message: Message) -> EmailMessage:
        subjects = {**DEFAULT_SUBJECT, **(self.config.get("subject") or {})}
        mail = EmailMessage()
        mail["From"] = str(self.config["from"])
        mail["To"] = message.to
        mail["Subject"] = str(message.data.get("subject") or subjects.get(message.lang)
                              or subjects["vi"])
        mail["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
        mail["Message-ID"] = message_id(message.idempotency_key)
        mail.set_content(message.text)
        return mail

    def send(self, message: Message, timeout: float) -> Outcome:
        if not ADDRESS.match(message.to):
            return Outcome.failed("not an e-mail address")
        c = self.config
        host = str(c["host"])
        try:
            if self.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, self.port, timeout=timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(host, self.port, timeout=timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if c.get("username"):
                    client.login(str(c["username"]), str(c.get("password") or ""))
                refused = client.send_message(self.email(message))
        except smtplib.SMTPRecipientsRefused as exc:
            return Outcome.failed(f"recipient refused: {_codes(exc.recipients)}")
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}"
            return (Outcome.failed(detail) if 500 <= exc.smtp_code < 600
                    else Outcome.retry(detail))
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return Outcome.retry(f"mail server: {type(exc).__name__}")
        if refused:
            return Outcome.failed(f"recipient refused: {_codes(refused)}")
        return Outcome.sent("accepted")


def _codes(recipients: dict[str, Any]) -> str:
    return ", ".join(str(v[0]) for v in recipients.values())
