"""The jobs the daemon runs beside polling, each one round: delivery (notices folded into
messages, messages handed to their channels), the clocks (reminders, repeats, escalations,
the digest, overdue steps, follow-ups, storms) and retention. Clocks and retention run on
one replica at a time, under a lease."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.config import Config
from monitor.delivery.notify import Notifier
from monitor.delivery.outbox import Courier, DeliveryReport
from monitor.report.digest import queue_digest
from monitor.storage.db import Writer
from monitor.storage.leases import Leases
from monitor.storage.models import NoticeRow
from monitor.storage.retention import PruneReport, prune
from monitor.storage.states import NoticeStatus
from monitor.tickets.desk import IncidentDesk

log = logging.getLogger("monitor")


class Running(Protocol):
    """The running configuration's parts as the jobs use them (the app's, swapped as one
    unit on reload)."""

    @property
    def config(self) -> Config: ...
    @property
    def desk(self) -> IncidentDesk: ...
    @property
    def notifier(self) -> Notifier: ...
    @property
    def courier(self) -> Courier: ...


@dataclass(frozen=True, slots=True)
class Clocks:
    reminders: int = 0
    repeats: int = 0
    escalations: int = 0
    digest: bool = False
    overdue_steps: int = 0
    follow_ups: int = 0
    storms: int = 0


class Jobs:
    def __init__(self, parts: Callable[[], Running], *, writer: Writer, read_sessions: sessionmaker[Session], leases: Leases, clock: Clock) -> None:
        self._parts = parts
        self.writer = writer
        self.read_sessions = read_sessions
        self.leases = leases
        self.clock = clock

    def deliver(self) -> DeliveryReport:
        """Fold due notices into messages, then hand due messages to their channels."""
        self.dispatch()
        return self._parts().courier.deliver_due()

    def dispatch(self) -> int:
        parts = self._parts()
        now = self.clock()
        with self.read_sessions() as session:  # the common case, nothing due, takes no write lock
            due = session.scalar(select(NoticeRow.id).where(NoticeRow.status == NoticeStatus.pending, NoticeRow.due_at <= now).limit(1))
        if due is None:
            return 0
        with self.writer.session() as session:
            told = parts.notifier.flush_due(session, self.clock())
            session.commit()
        return told

    def prune(self) -> PruneReport:
        """Retention: old unmatched posts and old snapshots of posts outside tickets go."""
        parts = self._parts()
        if self.leases.acquire("job:prune", timedelta(hours=7)) is None:
            return PruneReport(0, 0)  # another replica prunes
        scoring = parts.config.scoring
        with self.writer.session() as session:
            report = prune(session, self.clock(), parts.config.monitor.keep, max(scoring.track_for, scoring.volume_window, scoring.velocity_window))
            session.commit()
        if report.posts or report.snapshots:
            log.info("retention: pruned %d unmatched post(s) and %d engagement snapshot(s) older than %s", report.posts, report.snapshots, parts.config.monitor.keep)
        return report

    def repeat(self) -> int:
        """Only the repeats of unacknowledged tickets, for routes whose ``repeat_interval``
        is shorter than the clocks' minute; on the replica that runs the clocks."""
        parts = self._parts()
        if self.leases.acquire("job:clocks", timedelta(minutes=3)) is None:
            return 0
        with self.writer.session() as session:
            repeats = parts.notifier.repeat(session, self.clock())
            session.commit()
        return repeats

    def remind(self) -> Clocks:
        """The clocks: reminders, repeats of unacknowledged tickets, escalations, the digest."""
        parts = self._parts()
        if self.leases.acquire("job:clocks", timedelta(minutes=3)) is None:
            return Clocks()  # another replica runs the clocks: each reminder and escalation once
        with self.writer.session() as session:
            now = self.clock()
            clocks = Clocks(
                parts.desk.remind_due(session, now),
                parts.notifier.repeat(session, now),
                parts.notifier.escalate(session, now),
                parts.config.digest is not None and queue_digest(session, parts.config.digest, parts.config.monitor.timezone, now),
                parts.desk.steps_overdue(session, now),
                parts.desk.follow_up_due(session, now),
                parts.desk.storms(session, now),
            )
            session.commit()
        return clocks
