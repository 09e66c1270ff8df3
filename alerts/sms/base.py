"""What every SMS receiver shares: what an SMS may say, one HTTP call with its outcomes
told apart, and keeping the provider's keys out of every message we write.

An SMS carries the brand, the severity, the ticket number and the link, never post text:
a text message that quotes a post could be mistaken for one we wrote, and a template the
provider approved has no room for it anyway. The values fill the template's parameters
(``params``), each cut to the provider's length limit (never refused for length).

Outcomes, like the chat receivers': transport errors, timeouts, HTTP 429 and 5xx, and the
provider's "throttled" / "busy" / "out of credit" codes retry; a bad signature or key, an
unapproved template or signature, a blocked or invalid number are permanent (``Rejected``,
shown on the ticket's timeline, not retried). When a provider answers per number and some
numbers were refused, the others have the message: the refused ones come back in the
``Receipt`` (``450`` temporary, ``550`` permanent), and the courier retries a number on
its own, as it does for a mail recipient a server refused. A wait the provider asks for
(HTTP ``Retry-After``, in seconds or as a date) is honoured as the chat receivers honour it, through the
same code (``alerts._http.refuse``), capped the same way; for one number it travels with
that number's refusal. A send that makes one request per number stops starting new ones
when ``SEND_LIMIT`` is near: the numbers not tried are refused for now and retried alone.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from string import Formatter
from typing import ClassVar, NoReturn

import httpx

from alerts._http import Scrubber, asked_wait, capped_wait, post, refuse, usable_secret
from alerts.channels import SEND_LIMIT, Envelope, Receipt
from alerts.errors import Refusal, Rejected
from alerts.model import Brief
from weburl import parse_web_url

PLACEHOLDERS = ("severity", "severity_en", "brand", "id", "link")
"""What a parameter (or Twilio's body) may name: ``{severity}`` 紧急, ``{severity_en}``
urgent, ``{brand}``, ``{id}`` the ticket number(s), ``{link}`` the acknowledge link."""
TEMPORARY, PERMANENT = 450, 550
"""How a refused number is reported in a ``Receipt`` (SMTP's classes: the courier's)."""


def placeholders(text: str) -> list[str]:
    """The ``{fields}`` a parameter template uses, each as written after its name
    (``link:>999999999`` keeps its format spec, so it is not the placeholder ``link``: a
    width would build a gigabyte before the cut). ValueError for a malformed one."""
    return [name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") for _, name, spec, conversion in Formatter().parse(text) if name is not None]


def secure_enough(url: str) -> bool:
    """An address an SMS request may go to: https, or plain http to this machine (a test
    server, a local relay). The request carries the provider's keys or their signature."""
    parts = parse_web_url(url)
    return parts is not None and (parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1"))


def fill(template: str, brief: Brief) -> str:
    """``template`` with the brief's values: never a word of post text."""
    values = {
        "severity": brief.severity.zh,
        "severity_en": brief.severity.name,
        "brand": "、".join(brief.brands),
        "id": ",".join(str(i) for i in brief.tickets),
        "link": brief.link,
    }
    return template.format_map(values)


def cut(value: str, limit: int) -> str:
    """At most ``limit`` characters (providers count characters, a Chinese one as one)."""
    return value if len(value) <= limit else value[: max(0, limit - 1)] + "…"


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """One SMS receiver: who, how (template or body) and the provider's keys (read from
    the environment by the caller, never from the file)."""

    to: tuple[str, ...]
    key_id: str
    key_secret: str
    sign_name: str = ""
    template: str = ""
    sender: str = ""
    """Twilio: the sending number."""
    params: Mapping[str, str] = field(default_factory=dict)
    app_id: str = ""
    """Tencent Cloud: the SmsSdkAppId."""
    region: str = ""
    base_url: str = ""
    param_limit: int | None = None
    timeout: float | None = None


class SmsChannel:
    """An SMS provider as a ``Channel``: ``send`` raises only ``DeliveryError``."""

    kind: ClassVar[str] = "sms"
    default_url: ClassVar[str] = ""
    param_limit: ClassVar[int] = 35
    retry_codes: ClassVar[frozenset[str]] = frozenset()
    """The provider's codes for "later": throttled, busy, out of credit."""

    def __init__(
        self, name: str, settings: SmsSettings, client: httpx.Client, *, clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        url = settings.base_url or self.default_url
        parts = parse_web_url(url)
        if parts is None:
            raise ValueError(f"{self.kind} receiver {name!r}: base_url must be an http(s) URL with a host")
        if not secure_enough(url):
            raise ValueError(f"{self.kind} receiver {name!r}: base_url must be https (the keys would cross the network in clear); plain http only on 127.0.0.1")
        if not settings.key_id or not settings.key_secret:
            raise ValueError(f"{self.kind} receiver {name!r}: the access key id or secret is missing (key_id_env, key_secret_env)")
        if not (usable_secret(settings.key_id) and usable_secret(settings.key_secret)):
            raise ValueError(f"{self.kind} receiver {name!r}: the access key id or secret holds a line break, a control or a non-ASCII character (not shown)")
        self.name, self.settings, self.client, self.clock, self.nonce = name, settings, client, clock, nonce
        self.url = url
        self.host = parts.hostname or ""
        self.limit = settings.param_limit or self.param_limit
        for template in (*settings.params.values(), settings.template):  # Twilio's template is its body
            if any(field not in PLACEHOLDERS for field in placeholders(template)):
                raise ValueError(f"{self.kind} receiver {name!r}: a parameter names something other than {', '.join(PLACEHOLDERS)}")
        self._scrubber = Scrubber((settings.key_secret, settings.key_id))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.host}>"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} ({self.host})"

    def params(self, brief: Brief) -> dict[str, str]:
        """The template's parameters, in the order configured, each cut to the limit."""
        return {key: cut(fill(value, brief), self.limit) for key, value in self.settings.params.items()}

    def send(self, envelope: Envelope) -> str | Receipt:
        if envelope.brief is None:
            return f"{self.kind} {self.name}: nothing to send (a message about no ticket does not go by SMS)"
        numbers = envelope.rcpt or self.settings.to
        return self.deliver(envelope.brief, tuple(numbers))

    def deliver(self, brief: Brief, numbers: tuple[str, ...]) -> str | Receipt:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------

    def post(self, url: str, body: bytes, headers: dict[str, str], *, until: float | None = None) -> tuple[int, bytes, float | None]:
        """The status, the reply and the wait it asks for (``Retry-After``: seconds, or a date
        read against ``clock``).
        ``until`` (on ``clock``): the send's deadline, which the request may not pass
        (``SEND_LIMIT`` from now for a send of one request)."""
        left = max(0.001, (until if until is not None else self.deadline()) - self.clock())
        timeout = None if self.settings.timeout is None else min(self.settings.timeout, left)
        status, reply, answered = post(self.client, url, body, headers, label=self.label, shorten=self.shorten, timeout=timeout, within=left)
        return status, reply, asked_wait(answered, self.clock)

    def fail(self, status: int, code: str, message: str, retry_after: float | None = None) -> NoReturn:
        """The whole request failed: retry for HTTP 429/5xx and the provider's "later"
        codes (no sooner than the provider asked), else refuse for good."""
        text = f"{self.label}: HTTP {status}" + (f", {self.shorten(f'{code}: {message}' if code else message)}" if code or message else "")
        refuse(text, status == 429 or status >= 500 or self.later(code), retry_after)

    def later(self, code: str) -> bool:
        """Is the provider's ``code`` one that means "try again later"?"""
        return code in self.retry_codes

    def conclude(self, sent: list[str], refused: dict[str, Refusal]) -> str | Receipt:
        """Per-number outcomes: a receipt naming the numbers that got it and those refused
        when some got it (the ticket's timeline says who was told); when none did, one error
        (permanent only if every refusal was)."""
        if sent:
            text = f"{self.kind} {self.name}: sent to {len(sent)} number(s)"
            if not refused:
                return Receipt(text)
            told = ", ".join(sorted(sent))
            return Receipt(f"{text} ({told}), refused {', '.join(f'{n} ({r})' for n, r in sorted(refused.items()))}", refused)
        detail = "; ".join(f"{n}: {r}" for n, r in sorted(refused.items())) or "no number"
        if refused and all(r.permanent for r in refused.values()):
            raise Rejected(f"{self.label}: every number refused: {detail}")
        waits = [r.retry_after for r in refused.values() if r.retry_after is not None]
        refuse(f"{self.label}: no number accepted: {detail}", True, max(waits, default=None))

    def deadline(self) -> float:
        """When a send that began now must be over (``SEND_LIMIT``), on ``clock``."""
        return self.clock() + SEND_LIMIT.total_seconds()

    def refusal(self, code: str, message: str, retryable: bool, retry_after: float | None = None) -> Refusal:
        return Refusal(TEMPORARY if retryable else PERMANENT, self.shorten(f"{code}: {message}"), capped_wait(retry_after) if retryable else None)

    def shorten(self, text: str) -> str:
        """One line, the keys replaced by ``***``, at most ``EXCERPT_CHARS``."""
        return self._scrubber.shorten(text)


_PHONE = re.compile(r"^\+?[0-9]{5,15}$")


def is_phone_number(text: str) -> bool:
    """A number as providers take it: digits, optionally after a ``+`` (E.164: +8613800000000)."""
    return bool(_PHONE.match(text))
