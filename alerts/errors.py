"""Delivery errors. smtplib/OS errors never escape ``alerts/`` raw.

    DeliveryError        a message was not delivered; ``retryable`` says if trying later helps,
     │                   ``refused`` names the recipients the server refused, each with its reply
     │                   ``retry_after`` the seconds the receiver asked us to wait, when it said
     └── Rejected        the server refused this message for good (SMTP 5xx to MAIL FROM, to
                         every RCPT TO, or to DATA): sending it again would be refused again

A message the server accepted (DATA answered 250) is delivered, whatever happens after:
a channel never raises for it. Recipients it refused while accepting the message for
others come back in the ``Receipt`` (``alerts.channels``), not as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server's reply to one recipient it would not take."""

    code: int
    reply: str
    retry_after: float | None = None
    """Seconds the receiver asked us to wait before trying this recipient again (an SMS
    provider's ``Retry-After`` for one number), already capped; the courier honours it."""

    @property
    def permanent(self) -> bool:
        """5xx: this address will be refused again; 4xx (greylisting, a full mailbox,
        "try again later") is worth another try."""
        return self.code >= 500

    def __str__(self) -> str:
        return f"{self.code} {self.reply}".strip()


class DeliveryError(Exception):
    def __init__(
        self, message: str, *, retryable: bool = True, refused: Mapping[str, Refusal] | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.refused: Mapping[str, Refusal] = dict(refused or {})
        self.retry_after = retry_after
        """Seconds the receiver asked us to wait (HTTP Retry-After, Telegram's
        ``retry_after``), already capped by the channel; the courier waits at least this."""


class Rejected(DeliveryError):
    """Permanent: the courier records it and stops trying."""

    def __init__(self, message: str, *, refused: Mapping[str, Refusal] | None = None) -> None:
        super().__init__(message, retryable=False, refused=refused)
