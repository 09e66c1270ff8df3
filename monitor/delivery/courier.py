"""The courier: delivers the outbox's due messages, each claimed first, with retries.

A message's life (``MessageStatus``): queued → sending (claimed) → sent, or back to
queued after a temporary failure, or failed when the server refused it for good.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts import SEND_LIMIT, Brief, Channel, DeliveryError, Envelope, Receipt, Refusal, Rejected, Severity, next_attempt
from alerts.ratelimit import RateLimiter
from alerts.retry import MAX_RETRY
from monitor.clock import Clock
from monitor.delivery.links import LinkSigner
from monitor.keys import recipient_key, recipient_parent
from monitor.storage.db import WRITE_PATIENCE, Writer, insert_once, read_session_factory
from monitor.storage.models import EventRow, MessageRow, PostRow, TicketPostRow, TicketRow
from monitor.storage.states import UNSENT, MessageStatus, TicketStatus

log = logging.getLogger("monitor.outbox")  # the name from before the split: log filters keep working


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    """Failed this round and queued for a retry."""
    rejected: int = 0
    """Refused for good this round: recorded, not retried."""


class Courier:
    """Delivers due messages, each claimed first so that two processes sharing the
    database (``run`` and ``poll``, or replicas) never send the same one.

    A claim sets ``status='sending'`` with ``next_attempt_at`` as its lease: a process
    that dies mid-send leaves a claim that expires and is taken again (at-least-once).
    A temporary failure keeps the message queued with a later attempt time; the first
    failure and the recovery are logged, not every retry in between. A permanent one (the
    server refused the message or every recipient for good: ``Rejected``) ends as
    ``status='failed'``, a ``message_rejected`` event on the ticket and a line in
    ``monitor delivery``. A message the server took is sent, even if the connection broke
    after; recipients it refused get rows of their own (``<key>:rcpt:<address>``): a
    temporary refusal is retried for that recipient alone, a permanent one is recorded, and
    nobody who got the message gets it twice. Channels are independent: a
    chat webhook that is down is skipped for the round while email goes on, and a
    channel over its rate limit holds its messages until the limit allows.
    """

    LEASE = SEND_LIMIT + WRITE_PATIENCE + timedelta(minutes=1)
    """How long a claim holds: longer than the worst case from claim to "sent" recorded,
    which is a send (every channel ends one within ``SEND_LIMIT``) and then a write that
    may wait ``WRITE_PATIENCE`` for another process's write lock. A lease shorter than
    that (it was 5 minutes) ran out while the sender waited to record a message the
    server had taken, and another process sent it again. The price: a message whose
    sender died mid-send goes out this much later."""

    def __init__(
        self,
        writer: Writer,
        channels: Mapping[str, Channel] | Channel,
        sender: str,
        clock: Clock,
        *,
        read_sessions: sessionmaker[Session] | None = None,
        limits: Mapping[str, RateLimiter] | None = None,
        on_first_alert: Callable[[float], None] | None = None,
        links: LinkSigner | None = None,
    ) -> None:
        self.writer = writer
        self.read_sessions = read_sessions or read_session_factory(writer.sessions.kw["bind"])
        self.channels: Mapping[str, Channel] = channels if isinstance(channels, Mapping) else {"email": channels}
        self.limits = limits or {}
        self.sender = sender
        self.clock = clock
        self.on_first_alert = on_first_alert
        """Called with the seconds from a ticket's first post being seen to its first message sent."""
        self.links = links
        """Signs the link a push receiver shows (``Brief.link``) at send time, so it is fresh."""
        self.sending = threading.Lock()
        """Held while a message is with the channel: shutdown waits for it."""
        self._failing: set[str] = set()

    def deliver_due(self, limit: int = 50) -> DeliveryReport:
        now = self.clock()
        sent = failed = rejected = 0
        with self.read_sessions() as session:
            due = session.execute(
                select(MessageRow.id, MessageRow.channel)
                .where(MessageRow.status.in_(UNSENT), MessageRow.next_attempt_at <= now)
                .order_by(MessageRow.id)
                .limit(limit)
            ).all()
        down: set[str] = set()
        for message_id, channel in due:
            if channel in down:
                continue  # the rest of that channel waits for the next round instead of N timeouts in a row
            outcome = self._deliver_one(message_id)
            if outcome is None:
                continue  # another process claimed it, or the channel's rate limit holds it
            if outcome.sent:
                sent += 1
                continue
            if outcome.rejected:
                rejected += 1
                continue
            failed += 1
            if outcome.server_down:
                down.add(channel)
        return DeliveryReport(sent, failed, rejected)

    def _claim(self, session: Session, message_id: int) -> MessageRow | None:
        """Take the message for one send; a replica that finds it taken (or being taken:
        SKIP LOCKED on PostgreSQL) moves on to the next instead of waiting. The row comes
        back loaded and committed: held by the caller, it needs no query (and so no write
        transaction) until the next turn.

        The clock is read once the write transaction has begun: on SQLite that may have
        waited minutes for another process, and a lease counted from before the wait
        would have run out that much sooner (or before the send even began)."""
        session.connection()  # begins the transaction: BEGIN IMMEDIATE, the write lock, on SQLite
        now = self.clock()
        message = session.scalar(
            select(MessageRow)
            .where(MessageRow.id == message_id, MessageRow.status.in_(UNSENT), MessageRow.next_attempt_at <= now)
            .with_for_update(skip_locked=True)
        )
        if message is None:
            session.rollback()
            return None
        message.status = MessageStatus.sending
        message.next_attempt_at = now + self.LEASE
        session.commit()
        return message

    def _deliver_one(self, message_id: int) -> _Outcome | None:
        # the process's write lock is held for each write (writer.turn), never while a
        # channel is sending: a slow mail server must not hold up ingests
        with self.sending, self.writer.sessions() as session:
            with self.writer.turn(session):
                message = self._claim(session, message_id)
            if message is None:
                return None
            # read now: after a failed write the row's attributes are expired, and loading
            # them again would wait for the very database that just refused
            about, lease = f"{_what(message)} route {message.route} via {message.channel}", message.next_attempt_at
            channel = self.channels.get(message.channel)
            if channel is None:
                with self.writer.turn(session):
                    self._failed(session, message, f"channel {message.channel!r} is not configured (check [alerts.chat] in config.toml)")
                    session.commit()
                return _Outcome(sent=False, server_down=True)
            limiter = self.limits.get(message.channel)
            wait_until = limiter.acquire(self.clock()) if limiter is not None else None
            if wait_until is not None:
                with self.writer.turn(session):
                    message.status = MessageStatus.queued
                    message.next_attempt_at = wait_until  # not a failure: the channel's own pace
                    session.commit()
                return None
            try:
                receipt = channel.send(self._envelope(message))
            except Rejected as exc:
                with self.writer.turn(session):
                    self._rejected(session, message, str(exc))
                    session.commit()
                return _Outcome(sent=False, server_down=False, rejected=True)
            except DeliveryError as exc:
                with self.writer.turn(session):
                    # refused for good: those recipients leave this message; it retries the others
                    self._split(session, message, {a: r for a, r in exc.refused.items() if r.permanent})
                    self._failed(session, message, str(exc), exc.retry_after)
                    session.commit()
                # a server that answers about recipients is up: the channel's other messages go on
                return _Outcome(sent=False, server_down=exc.retryable and not exc.refused)
            except Exception as exc:  # a bug or a value the mail library refuses: one message must not stall the outbox
                with self.writer.turn(session):
                    self._failed(session, message, f"{exc.__class__.__name__}: {exc}")
                    session.commit()
                return _Outcome(sent=False, server_down=False)
            try:
                with self.writer.turn(session):
                    self._split(session, message, receipt.refused if isinstance(receipt, Receipt) else {})
                    first_told, sent_at = self._sent(session, message, str(receipt))
            except Exception:
                # the receiver has it and the database would not say so (busy past its
                # patience, gone): the claim runs out and the message goes again. Say so,
                # once, in words an operator can act on.
                log.error("alert sent but not recorded: %s (%s); the database refused the write, so it will be sent again after %s"
                          " / 已发送但未能记录，可能重复发送", about, receipt, lease.isoformat(timespec="seconds"))
                raise
            # recorded: what follows must not fail under the except above, which would say
            # that a recorded message goes again
            self._first_alert(first_told, sent_at)
            return _Outcome(sent=True, server_down=False)

    def _envelope(self, message: MessageRow) -> Envelope:
        to, rcpt = list(message.recipients), None
        parent = recipient_parent(message.key)
        # looked up on a read session: the courier's own would begin a write transaction
        # (BEGIN IMMEDIATE on SQLite) and hold it while the mail server answers
        with self.read_sessions() as reading:
            if parent is not None:  # one refused recipient's row: the To header the others saw, RCPT TO this one
                seen = reading.scalar(select(MessageRow.recipients).where(MessageRow.key == parent[0]))
                to, rcpt = (list(seen) if seen else to), tuple(message.recipients)
            elif message.channel == "email" and to:
                keys = {recipient_key(message.key, a): a for a in to}
                on_their_own = {keys[k] for k in reading.scalars(select(MessageRow.key).where(MessageRow.key.in_(list(keys))))}
                if on_their_own:
                    rcpt = tuple(a for a in to if a not in on_their_own)
            brief = self._brief(reading, message)
        return Envelope(
            key=message.key,
            sender=self.sender,
            to=tuple(to),
            rcpt=rcpt,
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
            message_id=message.message_id,
            created_at=message.created_at,
            in_reply_to=message.in_reply_to or None,
            images={cid: base64.b64decode(data) for cid, data in (message.images or {}).items()},
            brief=brief,
        )

    def _brief(self, reading: Session, message: MessageRow) -> Brief | None:
        """The message's tickets as a push receiver shows them: the highest severity, the
        brands, and one link: the one-click acknowledge link (signed now, naming the
        message's route) for one open ticket, else the most severe ticket's page."""
        ids = ticket_ids(message)
        tickets = [t for t in (reading.get(TicketRow, i) for i in ids) if t is not None]
        if not tickets:
            return None
        top = max(tickets, key=lambda t: (Severity[t.severity], -t.id))
        link = ""
        if self.links is not None:
            if len(tickets) == 1 and top.status == TicketStatus.open:
                link = self.links.ack_url(top.id, message.route, self.clock(), top.reopens or 0)
            else:
                link = self.links.ticket_url(top.id)
        brands = tuple(dict.fromkeys(t.brand for t in tickets))
        return Brief(Severity[top.severity], tuple(t.id for t in tickets), brands, link)

    def _sent(self, session: Session, message: MessageRow, receipt: str) -> tuple[list[int], datetime]:
        """Records the message as sent (and commits); the tickets told for the first time
        and when, for ``_first_alert``."""
        now = self.clock()
        if message.channel in self._failing:
            log.info("delivery recovered: %s route %s sent after %d failed attempt(s)", _what(message), message.route, message.attempts)
        self._failing.discard(message.channel)
        message.attempts += 1
        message.status = MessageStatus.sent
        message.sent_at = now
        first_told = []
        for ticket_id in ticket_ids(message):
            told_before = session.scalar(select(EventRow.id).where(EventRow.ticket_id == ticket_id, EventRow.kind == "message_sent").limit(1))
            if told_before is None:
                first_told.append(ticket_id)
            session.add(EventRow(ticket_id=ticket_id, at=now, kind="message_sent", detail=f"route {message.route}: {receipt}"))
        session.commit()
        log.info("alert sent: %s route %s: %s", _what(message), message.route, receipt)
        return first_told, now

    def _first_alert(self, tickets: list[int], sent_at: datetime) -> None:
        """Reports how long each ticket waited for its first message. A read on a read
        session: the courier's own would begin a write transaction (BEGIN IMMEDIATE on
        SQLite), wait for any other process's write and could fail after the record."""
        if self.on_first_alert is None or not tickets:
            return
        with self.read_sessions() as reading:
            for ticket_id in tickets:
                seen = reading.scalar(
                    select(func.min(PostRow.first_seen_at)).join(TicketPostRow, TicketPostRow.post_id == PostRow.id).where(TicketPostRow.ticket_id == ticket_id)
                )
                if seen is not None:
                    self.on_first_alert(max(0.0, (sent_at - seen).total_seconds()))

    def _split(self, session: Session, message: MessageRow, refused: Mapping[str, Refusal]) -> None:
        """Each recipient the server refused gets a row of its own: a temporary refusal is
        retried for that address alone on the usual schedule (its first attempt was this
        one), a permanent one is recorded as failed. The message's own row no longer
        sends to them."""
        now = self.clock()
        for address, refusal in sorted(refused.items()):
            permanent = refusal.permanent
            row = MessageRow(
                key=recipient_key(message.key, address),
                ticket_id=message.ticket_id,
                ticket_ids=list(message.ticket_ids or []),
                route=message.route,
                channel=message.channel,
                recipients=[address],
                subject=message.subject,
                body_text=message.body_text,
                body_html=message.body_html,
                message_id=message.message_id,
                in_reply_to=message.in_reply_to,
                images=dict(message.images or {}),
                status=MessageStatus.failed if permanent else MessageStatus.queued,
                attempts=1,
                next_attempt_at=now if permanent else _retry_at(1, now, refusal.retry_after),
                last_error=f"{address} refused: {refusal}",
                created_at=message.created_at,
            )
            if not insert_once(session, row):
                continue
            for ticket_id in ticket_ids(message):
                if permanent:
                    detail = f"route {message.route} via {message.channel}: {address} refused for good: {refusal} (not retried)"
                else:
                    detail = f"route {message.route} via {message.channel}: {address} refused: {refusal} (retrying {address} alone)"
                session.add(EventRow(ticket_id=ticket_id, at=now, kind="message_rejected" if permanent else "message_failed", detail=detail))
            log.warning("delivery to %s refused for %s route %s (%s): %s",
                        address, _what(message), message.route, "permanent, not retried" if permanent else "will retry that recipient", refusal)

    def _rejected(self, session: Session, message: MessageRow, error: str) -> None:
        """Refused for good: recorded, on the timeline and in ``monitor delivery``, not retried."""
        now = self.clock()
        message.attempts += 1
        message.status = MessageStatus.failed
        message.last_error = error
        message.next_attempt_at = now
        for ticket_id in ticket_ids(message):
            session.add(EventRow(ticket_id=ticket_id, at=now, kind="message_rejected",
                                 detail=f"route {message.route} via {message.channel}: {error} (not retried)"))
        log.error("delivery refused for good for %s route %s via %s (not retried): %s", _what(message), message.route, message.channel, error)

    def _failed(self, session: Session, message: MessageRow, error: str, retry_after: float | None = None) -> None:
        now = self.clock()
        message.attempts += 1
        message.status = MessageStatus.queued
        message.last_error = error
        message.next_attempt_at = _retry_at(message.attempts, now, retry_after)
        if message.attempts == 1:  # the timeline says a message is stuck, once, not every retry
            for ticket_id in ticket_ids(message):
                session.add(EventRow(ticket_id=ticket_id, at=now, kind="message_failed",
                                     detail=f"route {message.route} via {message.channel}: {error} (retrying)"))
        if message.channel not in self._failing or message.attempts == 1:
            log.warning("delivery failed for %s route %s via %s (attempt %d, will retry at %s): %s",
                        _what(message), message.route, message.channel, message.attempts, message.next_attempt_at.isoformat(timespec="seconds"), error)
        self._failing.add(message.channel)


def _retry_at(attempts: int, now: datetime, retry_after: float | None) -> datetime:
    """The next try after ``attempts`` failures: our backoff, or later when the receiver
    said how long to wait (never sooner, never past our own cap)."""
    at = next_attempt(attempts, now)
    if retry_after is not None and retry_after > 0:  # NaN and negatives say nothing; inf is "long"
        at = max(at, now + timedelta(seconds=min(retry_after, MAX_RETRY.total_seconds())))
    return at


def ticket_ids(message: MessageRow) -> list[int]:
    return list(message.ticket_ids or ([message.ticket_id] if message.ticket_id else []))


def _what(message: MessageRow) -> str:
    ids = ticket_ids(message)
    if not ids:
        return f"message {message.key}"
    return "ticket " + ", ".join(f"#{i}" for i in ids[:5]) + (" …" if len(ids) > 5 else "")


@dataclass(frozen=True, slots=True)
class _Outcome:
    sent: bool
    server_down: bool
    rejected: bool = False
