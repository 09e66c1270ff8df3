"""Delivery channels: where a rendered message goes. Each raises only ``DeliveryError``.

``SmtpChannel`` talks to a real mail server (STARTTLS or implicit TLS, login when a
password is configured); ``MaildirChannel`` writes ``.eml`` files to a folder, the
default when no ``[alerts.email]`` is configured and what ``monitor demo`` uses.

SMTP outcomes, told apart (``alerts.errors``): accepted (DATA answered 250; a dropped
connection or a failed QUIT after that changes nothing), accepted for some recipients
(a ``Receipt`` naming the refused ones with their replies), temporary (4xx, connection
errors, timeouts: ``DeliveryError``, retryable) and permanent (5xx to the message or
to every recipient: ``Rejected``).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from alerts._http import usable_secret
from alerts.errors import DeliveryError, Refusal, Rejected
from alerts.model import Brief

SEND_LIMIT = timedelta(minutes=4)
"""The longest one ``Channel.send`` may take, end to end: the courier's claim on a message
(its lease) is sized from it, so that no other process sends the message again while
this one is still at it. A socket timeout bounds one read or write, not a conversation:
a server that answers each command just in time, or with a reply that never ends (SMTP
allows any number of ``250-`` lines), would otherwise hold a send for as long as it liked."""


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
    rcpt: tuple[str, ...] | None = None
    """Who to hand it to (SMTP RCPT TO) when that is not everyone in ``to``: a retry for the
    recipients the server refused keeps the To header the others saw. ``None``: all of ``to``."""
    brief: Brief | None = None
    """Severity, tickets and the link to tap, for receivers that show them apart from the
    text (push notifications); ``None`` for a message about no ticket (the digest)."""


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


@dataclass(frozen=True, slots=True)
class Receipt:
    """The server took the message, but not for every recipient: ``refused`` names those
    it would not take, with its reply; everyone else has it."""

    text: str
    refused: Mapping[str, Refusal] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


class Channel(Protocol):
    def send(self, envelope: Envelope) -> str | Receipt:
        """Deliver; return a short receipt for the timeline (e.g. the file written), or a
        ``Receipt`` when some recipients were refused. Raise only ``DeliveryError``.
        End within ``SEND_LIMIT``, answered or not: the courier's claim is sized from it."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    """Seconds for one read or write on the connection."""
    limit: float = SEND_LIMIT.total_seconds()
    """Seconds for the whole conversation: past it the connection is cut and the send
    retried later, like a timeout."""


class _Cutoff:
    """Ends a conversation that outlasts its limit: a timer thread shuts the socket down,
    so whatever call is blocked on it (or looping over an endless reply) fails at once."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._client: smtplib.SMTP | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Cutoff:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, client: smtplib.SMTP, sock: socket.socket) -> None:
        """``client`` talks over ``sock`` from now on (it has just opened it, or STARTTLS
        has just wrapped the old one): cut it, at once if the time is already up."""
        with self._lock:
            self._client, self._sock = client, sock
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            # the client's socket, or the one just handed over that it has not yet stored.
            # During a STARTTLS handshake the client's socket is the plain one the TLS one
            # took over: cutting it does nothing, so ``starttls`` watches the new one.
            sock = getattr(self._client, "sock", None) or self._sock
            if sock is not None:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to cut


class _Smtp(smtplib.SMTP):
    """``smtplib.SMTP`` that hands each socket it opens to a ``_Cutoff`` at once: the
    constructor connects and reads the greeting, which must be cut off too."""

    def __init__(self, cutoff: _Cutoff, host: str, port: int, **options: Any) -> None:
        self.cutoff = cutoff
        super().__init__(host, port, **options)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self.cutoff.watch(self, sock)
        return sock

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        reply = super().starttls(*args, **kwargs)
        if self.sock is not None:
            self.cutoff.watch(self, self.sock)
        return reply


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same with implicit TLS (its socket comes back already wrapped)."""


class SmtpChannel:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, envelope: Envelope) -> str | Receipt:
        s = self.settings
        with _Cutoff(s.limit) as cutoff:
            try:
                return self._converse(envelope, cutoff)
            except DeliveryError as exc:
                if cutoff.fired and exc.retryable:
                    raise DeliveryError(f"SMTP {s.host}:{s.port}: the conversation took over {s.limit:g}s; cut off", retryable=True) from None
                raise

    def _converse(self, envelope: Envelope, cutoff: _Cutoff) -> str | Receipt:
        s = self.settings
        where = f"SMTP {s.host}:{s.port}"
        msg = build_email(envelope)
        rcpt = list(envelope.to if envelope.rcpt is None else envelope.rcpt)
        client: smtplib.SMTP | None = None
        try:
            try:
                if s.ssl:
                    client = _SmtpSsl(cutoff, s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
                else:
                    client = _Smtp(cutoff, s.host, s.port, timeout=s.timeout)
                if s.starttls and not s.ssl:
                    client.starttls(context=ssl.create_default_context())
                if s.username and s.password:
                    if not usable_secret(s.password):  # smtplib would quote the offending character
                        raise DeliveryError(f"{where}: the password holds a line break, a control or a non-ASCII character (not shown); login not tried", retryable=True)
                    client.login(s.username, s.password)
                refused = client.send_message(msg, to_addrs=rcpt)
            except smtplib.SMTPAuthenticationError as exc:
                # our settings, not this message: every message waits until they are fixed
                raise DeliveryError(f"{where}: login refused ({exc.smtp_code})", retryable=True) from None
            except smtplib.SMTPRecipientsRefused as exc:
                refusals = {addr: Refusal(code, _reply(reply)) for addr, (code, reply) in exc.recipients.items()}
                detail = "; ".join(f"{addr}: {r}" for addr, r in refusals.items()) or "no recipients"
                if len(refusals) == len(rcpt) and all(r.permanent for r in refusals.values()):
                    raise Rejected(f"{where}: every recipient refused: {detail}", refused=refusals) from None
                raise DeliveryError(f"{where}: no recipient accepted: {detail}", retryable=True, refused=refusals) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                # MAIL FROM or DATA refused: about this message, not the connection
                what = "sender refused" if isinstance(exc, smtplib.SMTPSenderRefused) else "message refused"
                text = f"{where}: {what}: {Refusal(exc.smtp_code, _reply(exc.smtp_error))}"
                if exc.smtp_code >= 500:
                    raise Rejected(text) from None
                raise DeliveryError(text, retryable=True) from None
            except smtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS: the server, not this message
                retry = 400 <= exc.smtp_code < 500
                raise DeliveryError(f"{where}: {exc.smtp_code} {exc.smtp_error!r}", retryable=retry) from None
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                # before DATA's 250 (a drop during DATA included): not accepted, try again
                raise DeliveryError(f"{where}: {exc.__class__.__name__}: {exc}", retryable=True) from None
            # DATA answered 250: the server has the message. A QUIT that fails or a dropped
            # connection now must not make us send it again.
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass
        finally:
            if client is not None:
                client.close()
        if refused:
            refusals = {addr: Refusal(code, _reply(reply)) for addr, (code, reply) in refused.items()}
            detail = ", ".join(f"{addr} ({r})" for addr, r in sorted(refusals.items()))
            return Receipt(f"smtp {s.host}: accepted, refused {detail}", refusals)
        return f"smtp {s.host}: accepted"


def _reply(reply: bytes | str) -> str:
    """An SMTP reply text on one line, short enough for a timeline."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


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
