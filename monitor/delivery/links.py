"""Signed one-click links in alert mail: a manager acknowledges from a phone without a
password.

A link is ``<payload>.<signature>``: the payload (ticket, action, who it was sent to, an
expiry and a random nonce) in URL-safe base64, signed with HMAC-SHA256 under the console
secret. It proves the holder got the mail; it expires; and the nonce, recorded when the
link is used, makes it work once. Pure standard library, so the notifier can sign links
without loading the web stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from monitor.errors import RequestRefused

ACTIONS = ("ack",)


class LinkError(RequestRefused):
    """A link that must be refused; ``reason`` is ``tampered``, ``expired``, ``used`` or
    ``stale`` (the ticket was reopened since the mail was sent)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinkClaim:
    ticket_id: int
    action: str
    sent_to: str
    """The route (or owner) the mail went to: the timeline says "acknowledged via the pr link"."""
    expires_at: datetime
    nonce: str
    reopens: int
    """How often the ticket had been reopened when the link was sent: an old mail's link
    must not acknowledge a later flare-up of the same ticket."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class LinkSigner:
    secret: bytes
    base_url: str
    ttl: timedelta

    def _sign(self, payload: str) -> str:
        # a separate key per purpose: a session cookie can never pass for a link
        key = hmac.new(self.secret, b"monitor one-click link", hashlib.sha256).digest()
        return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())

    def token(self, ticket_id: int, action: str, sent_to: str, now: datetime, reopens: int = 0) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        body = {"t": ticket_id, "a": action, "to": sent_to, "exp": int((now + self.ttl).timestamp()), "n": secrets.token_urlsafe(12), "r": reopens}
        payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, now: datetime) -> LinkClaim:
        """The claim of a genuine, unexpired link; ``LinkError`` otherwise (never a crash:
        the token comes from anyone's address bar)."""
        payload, _, signature = token.partition(".")
        try:
            genuine = hmac.compare_digest(self._sign(payload), signature)
        except (ValueError, UnicodeEncodeError, TypeError):
            genuine = False
        if not payload or not genuine:
            raise LinkError("tampered")
        try:
            body = json.loads(_unb64(payload))
            claim = LinkClaim(
                int(body["t"]), str(body["a"]), str(body["to"]), datetime.fromtimestamp(int(body["exp"]), UTC), str(body["n"]), int(body.get("r", 0))
            )
        except (ValueError, KeyError, TypeError, OverflowError):
            raise LinkError("tampered") from None
        if claim.action not in ACTIONS:
            raise LinkError("tampered")
        if now >= claim.expires_at:
            raise LinkError("expired")
        return claim

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.base_url}/tickets/{ticket_id}"

    def ack_url(self, ticket_id: int, sent_to: str, now: datetime, reopens: int = 0) -> str:
        return f"{self.base_url}/l/{quote(self.token(ticket_id, 'ack', sent_to, now, reopens), safe='.')}"
