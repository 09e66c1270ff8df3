"""What every chat webhook channel shares: one POST, the mapping of outcomes to
``DeliveryError``, byte-exact truncation and keeping the webhook's credentials out of
every message we write.

A platform module only says how its payload looks (``payload``), how it signs
(``target``/``headers``) and how its reply reports a refusal (``refusal``).

Outcomes, the same for every platform:

- transport error, timeout, HTTP 429 or 5xx            -> retryable
- any other non-2xx                                     -> permanent (bad URL, bad token, bad payload)
- 2xx whose body reports a platform error code           -> retryable only for the platform's
  "too frequent" / "busy" codes (``retry_codes``), else permanent

A permanent failure raises ``Rejected``, so the courier records it on the ticket's
timeline (``message_rejected``) and stops trying: a wrong token or an unapproved keyword
does not fix itself, and retrying it for ever hid it. A receiver's own wait (HTTP ``Retry-After`` in
seconds or as a date, or a ``retry_after`` its reply carries) travels as ``DeliveryError.retry_after``,
capped at ``MAX_RETRY_AFTER`` (``alerts._http.refuse``, which SMS receivers share).

Credentials: DingTalk and WeCom carry the token in the query string, Feishu and Slack in
the path. So a channel is described by ``kind``, ``name`` and host only, and any text
taken from an exception or a response body is scrubbed of the URL's parts and the secret
before it goes into an error.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qsl

import httpx

from alerts._http import ELLIPSIS, Scrubber, asked_wait, post, refuse, usable_secret
from alerts.channels import SEND_LIMIT, Envelope
from weburl import parse_web_url


def truncate_utf8(text: str, max_bytes: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if its UTF-8 form fits ``max_bytes``; else the longest prefix that fits
    together with ``ellipsis``, cut between characters (never inside a multi-byte one).

    Platforms count bytes (WeCom: 4096 bytes), and one Chinese character is three of
    them, so cutting at ``max_bytes`` characters would overflow by up to 3x."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(ellipsis.encode("utf-8"))
    if room < 0:
        raise ValueError(f"a limit of {max_bytes} bytes leaves no room for {ellipsis!r}")
    # a prefix of valid UTF-8 is valid except for a possibly incomplete last character,
    # which "ignore" drops
    return data[:room].decode("utf-8", "ignore") + ellipsis


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON: the bytes we send are the bytes we size and sign."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


class ChatRefusal(NamedTuple):
    """What a platform's reply says went wrong with the whole message: its error code (if
    any) and message, and how many seconds it asks us to wait (Telegram's
    ``retry_after``). Not ``alerts.Refusal``, a server's answer to one recipient."""

    code: int | str | None
    message: str
    retry_after: float | None = None


Refusal = ChatRefusal
"""The name this had before (``alerts.chat.Refusal``), kept for channels written against it."""


class ChatChannel:
    """A chat webhook as a ``Channel``: ``send`` posts one message, returns a receipt
    like ``"dingtalk pr-ding: accepted"`` and raises only ``DeliveryError``.

    The ``httpx.Client`` is given, never built here: its timeouts, proxies and transport
    are the caller's (and the tests' plug point). ``clock`` (Unix seconds) feeds the
    signing timestamps so a test can check them."""

    kind: ClassVar[str] = "chat"
    max_bytes: ClassVar[int] = 0
    """The platform's size limit for the message text in UTF-8 bytes (0: none)."""
    retry_codes: ClassVar[frozenset[int | str]] = frozenset()
    """Platform error codes that mean "later": rate limits, system busy."""
    content_type: ClassVar[str] = "application/json; charset=utf-8"
    default_url: ClassVar[str] = ""
    """The platform's public endpoint, for kinds whose URL carries no credential (Bark's
    and Telegram's servers): ``url`` may then be left out of the config."""
    needs_secret: ClassVar[str] = ""
    """What the secret is, for kinds that cannot work without one (Bark's device key)."""
    option_names: ClassVar[tuple[str, ...]] = ()
    """Kind-specific settings this kind takes (``group``)."""
    required_options: ClassVar[tuple[str, ...]] = ()
    """Those of them it cannot work without (``chat_id``)."""

    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.Client,
        *,
        secret: str | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        url = url or self.default_url
        parts = parse_web_url(url)
        if parts is None:
            raise ValueError(f"{self.kind} channel {name!r}: the webhook URL must be an http(s) URL with a host")
        self.name = name
        self.url = url
        self.client = client
        self.secret = secret or None
        self.clock = clock
        self.timeout = timeout
        """Per call; ``None`` keeps the client's own timeout."""
        self.host = parts.hostname or ""
        self.options = {key: value for key, value in (options or {}).items() if value}
        """Kind-specific settings (Telegram's ``chat_id``, Bark's ``group``)."""
        if self.needs_secret and not self.secret:
            raise ValueError(f"{self.kind} channel {name!r}: the {self.needs_secret} is missing (set secret_env to the variable holding it)")
        if self.secret is not None and not usable_secret(self.secret):
            raise ValueError(f"{self.kind} channel {name!r}: the secret holds a line break, a control or a non-ASCII character (it is not shown)")
        for option in self.required_options:
            if not self.options.get(option):
                raise ValueError(f"{self.kind} channel {name!r}: {option} is missing")
        self._scrubber = Scrubber(_credentials(url, parts, self.secret))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.host}>"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} ({self.host})"

    # -- what a platform module provides ---------------------------------------------

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        raise NotImplementedError

    def target(self) -> str:
        """The URL to post to; DingTalk adds its signature here."""
        return self.url

    def headers(self, body: bytes) -> dict[str, str]:
        """Extra headers for ``body``; the generic webhook signs here."""
        return {}

    def body(self, envelope: Envelope) -> bytes:
        """The bytes to post: ``payload`` as compact JSON unless a kind posts plain text."""
        return dumps(self.payload(envelope))

    def message_headers(self, envelope: Envelope) -> dict[str, str]:
        """Headers that describe the message (ntfy's title, priority and click link)."""
        return {}

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        """The platform's own error in a reply, if it reports one; ``None`` leaves the
        verdict to the HTTP status."""
        return None

    def body_text(self, envelope: Envelope, heading: str = "") -> str:
        """``heading`` + subject as a title line, a blank line, the text; cut to
        ``max_bytes`` so the platform neither rejects nor silently clips it."""
        text = f"{heading}{envelope.subject}\n\n{envelope.text}"
        return truncate_utf8(text, self.max_bytes) if self.max_bytes else text

    # -- shared ----------------------------------------------------------------------

    def send(self, envelope: Envelope) -> str:
        body = self.body(envelope)
        status, reply, wait = self._post(self.target(), body, {**self.message_headers(envelope), **self.headers(body)})
        found = self.refusal(status, reply)
        busy = status == 429 or status >= 500
        if found is not None:
            code, message, asked = found
            what = self.shorten(f"error {code}: {message}" if code is not None else message)
            refuse(f"{self.label}: HTTP {status}, {what}", busy or code in self.retry_codes, asked if asked is not None else wait)
        if not 200 <= status < 300:
            excerpt = self.excerpt(reply)
            refuse(f"{self.label}: HTTP {status}" + (f": {excerpt}" if excerpt else ""), busy, wait)
        return f"{self.kind} {self.name}: accepted"

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float | None]:
        status, reply, answered = post(
            self.client, url, body, {"Content-Type": self.content_type, **headers}, label=self.label, shorten=self.shorten, timeout=self.timeout,
            within=SEND_LIMIT.total_seconds(),  # one request per send
        )
        return status, reply, asked_wait(answered, self.clock)

    def excerpt(self, reply: bytes) -> str:
        """A short, single-line, credential-free piece of a reply for an error message."""
        return self.shorten(reply.decode("utf-8", "replace"))

    def shorten(self, text: str) -> str:
        """One line, credentials replaced by ``***``, at most ``EXCERPT_CHARS``."""
        return self._scrubber.shorten(text)

    def scrub(self, text: str) -> str:
        return self._scrubber.scrub(text)

    def stranger(self, status: int, reply: bytes, what: str) -> ChatRefusal | None:
        """A reply that is not the platform's: a refusal for a 2xx (the URL points at
        something else, and retrying will not change that), else left to the HTTP status
        (a proxy's 502 page, say)."""
        if 200 <= status < 300:
            return ChatRefusal(None, f"unexpected reply (is this {what}?): {self.excerpt(reply)}")
        return None

    def json_refusal(self, status: int, reply: bytes, codes: tuple[str, ...], messages: tuple[str, ...]) -> ChatRefusal | None:
        """For robots that answer ``{"errcode": 0, "errmsg": "ok"}`` (or ``code``/``msg``):
        the first non-zero code among ``codes`` with the message under the matching key.

        A 2xx that is not such JSON is a refusal too: the URL then does not point at this
        platform's robot, and retrying will not change that. A non-2xx that is not such
        JSON is left to the HTTP status (a proxy's 502 page, say)."""
        data = json_object(reply)
        if data is None or not any(key in data for key in codes):
            return self.stranger(status, reply, f"a {self.kind} robot URL")
        for key, message_key in zip(codes, messages, strict=True):
            code = _code(data.get(key))
            if code not in (None, 0):
                return ChatRefusal(code, str(data.get(message_key) or ""))
        return None


def json_object(reply: bytes) -> dict[str, Any] | None:
    """The reply as a JSON object, or None for anything else."""
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _code(value: Any) -> int | str | None:
    """A platform error code as an int where it is one (``"130101"`` too), so it can be
    looked up in ``retry_codes``; anything odd becomes a short string."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text[:40]


def _credentials(url: str, parts: Any, secret: str | None) -> tuple[str, ...]:
    """Every piece of the URL that can carry a token, longest first (so the whole URL is
    replaced before its parts)."""
    found = {url, parts.query, parts.path if len(parts.path) > 1 else ""}
    found.update(value for _, value in parse_qsl(parts.query) if len(value) >= 4)
    found.update(seg for seg in parts.path.split("/") if len(seg) >= 16)
    found.update(re.findall(r"[A-Za-z0-9_\-]{16,}", parts.path + "?" + parts.query))
    if parts.password:
        found.add(parts.password)
    if secret:
        found.add(secret)
    return tuple(sorted((p for p in found if p), key=len, reverse=True))
