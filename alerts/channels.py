"""Delivery channels: where a rendered message goes. Each raises only ``DeliveryError``.

``SmtpChannel`` talks to a real mail server (STARTTLS or implicit TLS, login when a
password is configured); ``MaildirChannel`` writes ``.eml`` files to a folder, the
default when no ``[alerts.email]`` is configured and what ``monitor demo`` uses.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from .errors import DeliveryError


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message ready to send, as stored in the outbox."""

    key: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    message_id: str
    created_at: datetime
    in_reply_to: str | None = None
    """The Message-ID this one answers: mail clients show one conversation per ticket."""
    images: Mapping[str, bytes] = field(default_factory=dict)
    """PNG images the HTML shows as ``cid:<name>``."""


def build_email(envelope: Envelope) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = envelope.subject
    msg["From"] = envelope.sender
    msg["To"] = ", ".join(envelope.to)
    msg["Date"] = format_datetime(envelope.created_at)
    msg["Message-ID"] = envelope.message_id
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
        msg["References"] = envelope.in_reply_to
    msg["X-Monitor-Key"] = envelope.key
    msg.set_content(envelope.text, charset="utf-8")
    msg.add_alternative(envelope.html, subtype="html", charset="utf-8")
    if envelope.images:
        parts = msg.get_payload()
        assert isinstance(parts, list) and isinstance(parts[-1], EmailMessage)
        html_part = parts[-1]  # the html alternative just added
        for name, png in envelope.images.items():
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}>", disposition="inline", filename=f"{name}.png")
    return msg


def new_message_id(domain: str = "brand-monitor.local") -> str:
    return make_msgid(domain=domain)


class Channel(Protocol):
    def send(self, envelope: Envelope) -> str:
        """Deliver; return a short receipt for the timeline (e.g. the file written)."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


class SmtpChannel:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, envelope: Envelope) -> str:
        s = self.settings
        msg = build_email(envelope)
        try:
            if s.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.starttls and not s.ssl:
                    client.starttls(context=ssl.create_default_context())
                if s.username and s.password:
                    client.login(s.username, s.password)
                refused = client.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: login refused ({exc.smtp_code})", retryable=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: all recipients refused: {', '.join(exc.recipients)}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            retry = 400 <= exc.smtp_code < 500
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {exc.smtp_code} {exc.smtp_error!r}", retryable=retry) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {exc.__class__.__name__}: {exc}", retryable=True) from None
        if refused:
            return f"smtp {s.host}: accepted, refused {', '.join(sorted(refused))}"
        return f"smtp {s.host}: accepted"


class MaildirChannel:
    """Writes each message as ``<key>.eml`` atomically (temp file + rename), so a crash
    never leaves half a mail and a re-send of the same key overwrites rather than doubles."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, envelope: Envelope) -> str:
        name = "".join(c if c.isalnum() or c in "-_." else "-" for c in envelope.key) + ".eml"
        target = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            data = bytes(build_email(envelope))
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc}", retryable=True) from None
        return f"written {target}"
