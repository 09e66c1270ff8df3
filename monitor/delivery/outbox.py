"""The outbox: messages are queued in the transaction that decided to send them, and a
courier (``monitor.delivery.courier``) delivers them later with retries.

Queuing inside that transaction means a crash can never leave a decision without its
message, or a message without its decision; the unique ``key`` (``monitor.keys``) means
replaying the same decision queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import Rendered, Severity, new_message_id
from monitor.delivery.courier import Courier, DeliveryReport
from monitor.delivery.health import delivery_health
from monitor.keys import chat_key
from monitor.storage.db import insert_once
from monitor.storage.models import EventRow, MessageRow, ThreadRow, TicketRow
from monitor.storage.states import MessageStatus

__all__ = ["Courier", "DeliveryReport", "Outbox", "delivery_health", "insert_once"]
"""``Courier``, ``DeliveryReport``, ``delivery_health`` and ``insert_once`` live in their own
modules now and are named here too, so that imports from before the split still work."""


@dataclass
class Outbox:
    """Turns one decision to tell someone into outbox rows: one email to the route's
    addresses and one per chat receiver, each with its own unique key (idempotent).

    ``floors``: receivers that take only tickets at least this severe (an SMS receiver's
    ``min_severity``); a message about less severe tickets is not queued for them."""

    floors: Mapping[str, Severity] = field(default_factory=dict)

    @staticmethod
    def already(session: Session, key: str, chat: Sequence[str] = ()) -> bool:
        """Was this decision queued before (to any of its receivers)?"""
        keys = [key, *(chat_key(key, name) for name in chat)]
        return session.scalar(select(MessageRow.id).where(MessageRow.key.in_(keys)).limit(1)) is not None

    @staticmethod
    def _thread(session: Session, tickets: Sequence[TicketRow], thread: str, message_id: str) -> str:
        """A ticket's first email to an audience starts its conversation, alone or in a
        group; a later email about that ticket alone answers it (In-Reply-To)."""
        roots = {t.id: session.get(ThreadRow, (t.id, thread)) for t in tickets}
        for ticket_id, root in roots.items():
            if root is None:
                insert_once(session, ThreadRow(ticket_id=ticket_id, thread=thread, message_id=message_id))
        if len(tickets) == 1 and roots[tickets[0].id] is not None:
            return roots[tickets[0].id].message_id  # type: ignore[union-attr]
        return ""

    def queue(
        self,
        session: Session,
        *,
        key: str,
        route: str,
        tickets: Sequence[TicketRow],
        rendered: Rendered,
        now: datetime,
        to: Sequence[str] = (),
        chat: Sequence[str] = (),
        thread: str | None = None,
        what: str = "",
        images: Mapping[str, str] | None = None,
        not_before: datetime | None = None,
    ) -> list[MessageRow]:
        top = max((Severity[t.severity] for t in tickets), default=Severity.normal)
        chat = [name for name in chat if top >= self.floors.get(name, Severity.normal)]
        targets = ([("email", key, list(to))] if to else []) + [(name, chat_key(key, name), []) for name in chat]
        queued = []
        for channel, message_key, recipients in targets:
            if session.scalar(select(MessageRow.id).where(MessageRow.key == message_key)) is not None:
                continue  # this exact message was queued before: replaying a decision sends nothing twice
            message_id, in_reply_to = new_message_id(), ""
            if channel == "email" and thread is not None:
                in_reply_to = self._thread(session, tickets, thread, message_id)
            message = MessageRow(
                key=message_key,
                ticket_id=tickets[0].id if len(tickets) == 1 else None,
                ticket_ids=[t.id for t in tickets],
                route=route,
                channel=channel,
                recipients=recipients,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                message_id=message_id,
                in_reply_to=in_reply_to,
                images=dict(images or {}) if channel == "email" else {},
                status=MessageStatus.queued,
                attempts=0,
                next_attempt_at=max(now, not_before or now),
                last_error="",
                created_at=now,
            )
            if not insert_once(session, message):
                continue
            receiver = ", ".join(recipients) if channel == "email" else f"chat {channel}"
            for ticket in tickets:
                session.add(EventRow(ticket_id=ticket.id, at=now, kind="message_queued", detail=f"{what} → route {route} ({receiver})"))
            queued.append(message)
        session.flush()
        return queued
