"""The states a ticket, a demand, a notice and a message go through, as the strings the
database stores and the CLI, the console and ``--json`` print.

``StrEnum`` members are those strings (``TicketStatus.open == "open"``, formatted and
JSON-encoded as ``open``), so rows written before these types existed read back
unchanged. Member names are the values, so a driver that adapts an enum by its name
stores the same string.
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    """open → acknowledged → resolved; a resolved ticket can be reopened (back to open)."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class DemandStatus(StrEnum):
    """What the customer asked for: open until done; a ticket is not resolved while one is open."""

    open = "open"
    done = "done"


class NoticeStatus(StrEnum):
    """pending → sent (folded into a message), silenced, superseded (by a later notice of
    the same ticket and route), or dropped (acknowledged or closed before the nudge was
    due, or the route left the config)."""

    pending = "pending"
    sent = "sent"
    silenced = "silenced"
    superseded = "superseded"
    dropped = "dropped"


class MessageStatus(StrEnum):
    """queued (waiting or retrying) → sending (claimed, ``next_attempt_at`` its lease) →
    sent, or failed (refused for good by the server: not retried)."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"


UNSENT = (MessageStatus.queued, MessageStatus.sending)
"""A message the courier may still deliver (a ``sending`` claim whose lease ran out is taken again)."""
