"""The outbox: alerts become queued messages in the ticket's own transaction, and a
courier delivers them later with retries.

Queuing inside the transaction that changed the ticket means a crash can never leave a
raised ticket without its message, or a message without its ticket; the unique ``key``
(ticket, kind, severity, route) means replaying the same change queues nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from alerts import Alert, AlertPost, Channel, DeliveryError, Envelope, Renderer, Route, Severity, new_message_id, next_attempt, routes_for

from .clock import Clock
from .models import EventRow, MessageRow, PostRow, TicketPostRow, TicketRow
from .store import latest_snapshot

log = logging.getLogger("monitor.outbox")
MAX_POSTS_IN_MESSAGE = 20


def build_alert(session: Session, ticket: TicketRow, kind: str, previous: Severity | None, ack_command: str) -> Alert:
    posts = []
    for link in ticket.posts[:MAX_POSTS_IN_MESSAGE]:
        p = link.post
        snap = latest_snapshot(session, p.id)
        posts.append(
            AlertPost(
                url=p.url,
                author=p.author,
                text=p.text,
                platform=p.platform,
                created_at=p.created_at,
                reposts=snap.reposts if snap else None,
                comments=snap.comments if snap else None,
                likes=snap.likes if snap else None,
            )
        )
    return Alert(
        ticket_id=ticket.id,
        kind=kind,
        severity=Severity[ticket.severity],
        brand=ticket.brand,
        title=ticket.title,
        categories=tuple(ticket.categories or ()),
        reasons=tuple(ticket.reasons or ()),
        posts=tuple(posts),
        opened_at=ticket.opened_at,
        due_at=ticket.due_at,
        previous_severity=previous,
        ack_command=ack_command,
        post_count=len(ticket.posts),
    )


@dataclass
class Outbox:
    routes: Sequence[Route]
    renderer: Renderer
    ack_command: str = "monitor tickets ack {id}"

    def queue(
        self, session: Session, ticket: TicketRow, kind: str, now: datetime, previous: Severity | None = None, newly_for: Sequence[str] | None = None
    ) -> list[MessageRow]:
        """Queue one message per matching route, unless that exact message was queued before.

        With ``newly_for`` (the ticket's categories before a change), only routes that
        match now and did not match with those categories are told."""
        alert = build_alert(session, ticket, kind, previous, self.ack_command.format(id=ticket.id))
        routes = routes_for(alert, self.routes)
        if newly_for is not None:
            routes = [r for r in routes if not r.matches(alert.severity, newly_for)]
        queued = []
        rendered = None
        for route in routes:
            key = f"ticket-{ticket.id}-{kind}-{alert.severity.name}-{route.name}"
            if session.scalar(select(MessageRow.id).where(MessageRow.key == key)) is not None:
                continue
            rendered = rendered or self.renderer.render(alert)
            message = MessageRow(
                key=key,
                ticket_id=ticket.id,
                route=route.name,
                recipients=list(route.to),
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                message_id=new_message_id(),
                status="queued",
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
            )
            session.add(message)
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="message_queued", detail=f"{kind} → route {route.name} ({', '.join(route.to)})"))
            queued.append(message)
        session.flush()
        return queued


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0


class Courier:
    """Delivers due messages, each claimed first so that two processes sharing the
    database (``run`` and ``poll``, or replicas) never send the same one.

    A claim sets ``status='sending'`` with ``next_attempt_at`` as its lease: a process
    that dies mid-send leaves a claim that expires and is taken again (at-least-once).
    A failure keeps the message queued with a later attempt time; the first failure and
    the recovery are logged, not every retry in between.
    """

    LEASE = timedelta(minutes=5)  # longer than any SMTP timeout

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel: Channel,
        sender: str,
        clock: Clock,
        *,
        read_sessions: sessionmaker[Session] | None = None,
        on_first_alert: Callable[[float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.channel = channel
        self.sender = sender
        self.clock = clock
        self.on_first_alert = on_first_alert
        """Called with the seconds from a ticket's first post being seen to its first message sent."""
        self.sending = threading.Lock()
        """Held while a message is with the channel: shutdown waits for it."""
        self._failing = False

    def deliver_due(self, limit: int = 50) -> DeliveryReport:
        now = self.clock()
        sent = failed = 0
        with self.read_sessions() as session:
            due = session.scalars(
                select(MessageRow.id)
                .where(MessageRow.status.in_(("queued", "sending")), MessageRow.next_attempt_at <= now)
                .order_by(MessageRow.id)
                .limit(limit)
            ).all()
        for message_id in due:
            outcome = self._deliver_one(message_id)
            if outcome is None:
                continue  # another process claimed it
            if outcome.sent:
                sent += 1
                continue
            failed += 1
            if outcome.server_down:
                break  # the rest wait for the next cycle instead of 50 timeouts in a row
        return DeliveryReport(sent, failed)

    def _claim(self, session: Session, message_id: int, now: datetime) -> bool:
        claimed = session.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id, MessageRow.status.in_(("queued", "sending")), MessageRow.next_attempt_at <= now)
            .values(status="sending", next_attempt_at=now + self.LEASE)
        )
        session.commit()
        return claimed.rowcount == 1

    def _deliver_one(self, message_id: int) -> _Outcome | None:
        with self.sending, self.sessions() as session:
            if not self._claim(session, message_id, self.clock()):
                return None
            message = session.get(MessageRow, message_id)
            assert message is not None
            envelope = Envelope(
                key=message.key,
                sender=self.sender,
                to=tuple(message.recipients),
                subject=message.subject,
                text=message.body_text,
                html=message.body_html,
                message_id=message.message_id,
                created_at=message.created_at,
            )
            try:
                receipt = self.channel.send(envelope)
            except DeliveryError as exc:
                self._failed(message, str(exc))
                session.commit()
                return _Outcome(sent=False, server_down=exc.retryable)
            except Exception as exc:  # a bug or a value the mail library refuses: one message must not stall the outbox
                self._failed(message, f"{exc.__class__.__name__}: {exc}")
                session.commit()
                return _Outcome(sent=False, server_down=False)
            now = self.clock()
            if self._failing:
                log.info("delivery recovered: ticket #%s route %s sent after %d failed attempt(s)", message.ticket_id, message.route, message.attempts)
            self._failing = False
            message.attempts += 1
            message.status = "sent"
            message.sent_at = now
            session.add(EventRow(ticket_id=message.ticket_id, at=now, kind="message_sent", detail=f"route {message.route}: {receipt}"))
            first_sent = session.scalar(
                select(func.count(MessageRow.id)).where(MessageRow.ticket_id == message.ticket_id, MessageRow.status == "sent", MessageRow.id != message.id)
            ) == 0
            session.commit()
            if first_sent and self.on_first_alert is not None:
                seen = session.scalar(
                    select(func.min(PostRow.first_seen_at)).join(TicketPostRow, TicketPostRow.post_id == PostRow.id).where(TicketPostRow.ticket_id == message.ticket_id)
                )
                if seen is not None:
                    self.on_first_alert(max(0.0, (now - seen).total_seconds()))
            log.info("alert sent: ticket #%s route %s: %s", message.ticket_id, message.route, receipt)
            return _Outcome(sent=True, server_down=False)

    def _failed(self, message: MessageRow, error: str) -> None:
        now = self.clock()
        message.attempts += 1
        message.status = "queued"
        message.last_error = error
        message.next_attempt_at = next_attempt(message.attempts, now)
        if not self._failing or message.attempts == 1:
            log.warning("delivery failed for ticket #%s route %s (attempt %d, will retry at %s): %s",
                        message.ticket_id, message.route, message.attempts, message.next_attempt_at.isoformat(timespec="seconds"), error)
        self._failing = True


@dataclass(frozen=True, slots=True)
class _Outcome:
    sent: bool
    server_down: bool
