"""Tickets from verdicts: open one per issue, join posts to it, raise its severity.

An issue is one brand and one crisis category, or one brand and a cluster of
near-duplicate texts. At most one unresolved ticket exists per issue: ``open_key`` is
unique in the database, so even racing replicas cannot open two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import Severity
from monitor.config import Config
from monitor.detect.scoring import Verdict
from monitor.detect.storms import Storm, find_storms, top_posts
from monitor.durations import format_duration
from monitor.keys import IssueKind, blind_issue, open_key, parse_issue_key, storm_issue
from monitor.storage.models import EventRow, MentionRow, PostRow, TicketPostRow, TicketRow
from monitor.storage.states import TicketStatus
from monitor.tickets.actions import SYSTEM_BRAND, TicketError, reopen
from monitor.tickets.cases import similar_cases
from monitor.tickets.playbooks import add_steps, assign_by_matrix, flare_up, overdue_steps
from monitor.tickets.port import Announcer

MAX_REASONS = 30
FLARE_POSTS = 50
"""Posts a ticket opened by a follow-up carries: the issue's new mentions, then the
resolved ticket's own posts (whose growth may be the flare-up)."""


def title_for(post: PostRow, limit: int = 60) -> str:
    text = " ".join((post.title or post.text or post.url).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class IncidentDesk:
    config: Config
    notifier: Announcer

    def consider(self, session: Session, mention: MentionRow, post: PostRow, verdict: Verdict, now: datetime) -> TicketRow | None:
        """Apply a verdict: nothing, a new ticket, or a join (and maybe a rise) of the open one."""
        if verdict.severity is None:
            return None
        key = open_key(mention.brand, mention.issue_key)
        ticket = session.scalar(select(TicketRow).where(TicketRow.open_key == key))
        if ticket is None:
            ticket = self._reopen_recent(session, mention, now)
        if ticket is None:
            try:
                with session.begin_nested():
                    ticket = self._open(session, mention, post, verdict, now)
            except IntegrityError:  # another replica opened it a moment ago: join that one
                ticket = session.scalar(select(TicketRow).where(TicketRow.open_key == key))
                if ticket is None:
                    raise
            else:
                return ticket
        before = list(ticket.categories or [])
        self._join(session, ticket, post, mention.categories, now)
        if verdict.severity > Severity[ticket.severity]:
            self._raise(session, ticket, verdict, now)  # tells every route that now matches
        elif ticket.categories != before:
            # a new category can bring in a route (e.g. legal) that has not heard of this ticket
            self.notifier.notify(session, ticket, "opened", now, newly_for=before)
        if ticket.categories != before:
            add_steps(session, ticket, self.config.playbooks, now)  # and its playbook's steps
        return ticket

    def _reopen_recent(self, session: Session, mention: MentionRow, now: datetime) -> TicketRow | None:
        """The same issue flaring up soon after it was closed is the old case coming back:
        reopen it (and tell its owner) instead of starting a case without its history."""
        window = self.config.tickets.reopen_within
        if not window:
            return None
        ticket = session.scalar(
            select(TicketRow)
            .where(TicketRow.brand == mention.brand, TicketRow.issue_key == mention.issue_key, TicketRow.status == TicketStatus.resolved, TicketRow.resolved_at >= now - window)
            .order_by(TicketRow.resolved_at.desc())
            .limit(1)
        )
        if ticket is None:
            return None
        try:
            with session.begin_nested():
                self.reopen(session, ticket, now, "monitor", f"new post on the issue within {window} of resolving / 解决后 {window} 内出现新帖")
        except (IntegrityError, TicketError):  # another replica opened or reopened the issue a moment ago: join that
            return session.scalar(select(TicketRow).where(TicketRow.open_key == open_key(mention.brand, mention.issue_key)))
        return ticket

    def reopen(self, session: Session, ticket: TicketRow, now: datetime, actor: str, note: str) -> TicketRow:
        """Reopen with a fresh clock, tell the routes, and tell the owner directly."""
        reopen(session, ticket, now, actor, note, due_at=now + self.config.tickets.sla.get(Severity[ticket.severity], timedelta(hours=24)))
        self.notifier.notify(session, ticket, "reopened", now)
        self.notifier.tell_owner(session, ticket, "reopened", now)
        return ticket

    def _open(self, session: Session, mention: MentionRow, post: PostRow, verdict: Verdict, now: datetime) -> TicketRow:
        severity = verdict.severity
        assert severity is not None
        ticket = TicketRow(
            brand=mention.brand,
            issue_key=mention.issue_key,
            open_key=open_key(mention.brand, mention.issue_key),
            title=title_for(post),
            status=TicketStatus.open,
            severity=severity.name,
            categories=list(mention.categories),
            reasons=list(verdict.reasons),
            opened_at=now,
            due_at=now + self.config.tickets.sla.get(severity, timedelta(hours=24)),
        )
        session.add(ticket)
        session.flush()
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="opened", detail=f"{severity.name}: " + "; ".join(verdict.reasons)))
        self._follows(session, ticket, now)
        self._join(session, ticket, post, mention.categories, now)
        # a ticket opened by volume carries every mention that made up that volume
        since = now - self.config.scoring.volume_window
        siblings = session.scalars(
            select(MentionRow).where(
                MentionRow.brand == mention.brand, MentionRow.issue_key == mention.issue_key, MentionRow.seen_at >= since, MentionRow.id != mention.id
            )
        ).all()
        for sibling in siblings:
            self._join(session, ticket, sibling.post, sibling.categories, now)
        assign_by_matrix(session, ticket, self.config.owners, post.platform, now)
        add_steps(session, ticket, self.config.playbooks, now)
        session.flush()
        similar = similar_cases(session, ticket, limit=3)
        if similar:  # how the same problem was solved before: 60% of complaints have a known answer
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="similar_cases", detail=", ".join(f"#{c.ticket_id} ({c.score:.2f})" for c in similar)))
        self.notifier.notify(session, ticket, "opened", now)
        return ticket

    @staticmethod
    def _follows(session: Session, ticket: TicketRow, now: datetime, previous: TicketRow | None = None) -> TicketRow | None:
        """A new ticket for an issue that was resolved before (after ``reopen_within``, or
        with ``"0s"``: never reopened) names the last resolved ticket on its timeline."""
        if previous is None:
            previous = session.scalar(
                select(TicketRow)
                .where(TicketRow.brand == ticket.brand, TicketRow.issue_key == ticket.issue_key, TicketRow.status == TicketStatus.resolved, TicketRow.id != ticket.id)
                .order_by(TicketRow.resolved_at.desc(), TicketRow.id.desc())
                .limit(1)
            )
        if previous is not None:
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="follows", detail=f"the issue was resolved before as #{previous.id} / 此问题曾在 #{previous.id} 解决"))
        return previous

    def _join(self, session: Session, ticket: TicketRow, post: PostRow, categories: list[str], now: datetime) -> None:
        # a primary-key look-up, not a walk over ticket.posts: a ticket may gather thousands
        if session.get(TicketPostRow, (ticket.id, post.id)) is None:
            session.add(TicketPostRow(ticket_id=ticket.id, post_id=post.id, post=post, joined_at=now))
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="post_joined", detail=post.url))
            session.flush()
            session.expire(ticket, ["posts"])  # reloaded only when a message is built
        merged = list(dict.fromkeys([*(ticket.categories or []), *categories]))
        if merged != ticket.categories:
            ticket.categories = merged

    def _raise(self, session: Session, ticket: TicketRow, verdict: Verdict, now: datetime) -> None:
        previous = Severity[ticket.severity]
        severity = verdict.severity
        assert severity is not None
        ticket.severity = severity.name
        ticket.due_at = min(ticket.due_at, now + self.config.tickets.sla.get(severity, timedelta(hours=24)))
        ticket.reasons = list(dict.fromkeys([*(ticket.reasons or []), *verdict.reasons]))[-MAX_REASONS:]
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="severity_raised", detail=f"{previous.name} → {severity.name}: " + "; ".join(verdict.reasons)))
        session.flush()
        self.notifier.notify(session, ticket, "raised", now, previous=previous)

    def source_blind(self, session: Session, source: str, since: datetime, error: str, now: datetime) -> TicketRow | None:
        """Open (once) a normal ticket saying a source has failed since ``since``."""
        key = open_key(SYSTEM_BRAND, blind_issue(source))
        if session.scalar(select(TicketRow.id).where(TicketRow.open_key == key)) is not None:
            return None
        handled = select(TicketRow.id).where(
            TicketRow.brand == SYSTEM_BRAND, TicketRow.issue_key == blind_issue(source), TicketRow.resolved_at >= since
        )
        if session.scalar(handled.limit(1)) is not None:
            return None  # someone resolved it during this outage: say it again only after a recovery
        reason = f"source {source} failing since {since.isoformat(timespec='seconds')}: {error}"
        ticket = TicketRow(
            brand=SYSTEM_BRAND,
            issue_key=blind_issue(source),
            open_key=key,
            title=f"we are blind on {source} / 数据源 {source} 失效",
            status=TicketStatus.open,
            severity=Severity.normal.name,
            categories=["source-health"],
            reasons=[reason],
            opened_at=now,
            due_at=now + self.config.tickets.sla.get(Severity.normal, timedelta(hours=24)),
        )
        session.add(ticket)
        session.flush()
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="opened", detail=reason))
        self.notifier.notify(session, ticket, "opened", now)
        return ticket

    def source_recovered(self, session: Session, source: str, now: datetime, why: str = "works again") -> TicketRow | None:
        """A source that works again (or was removed from the config) resolves its "blind"
        ticket, with the event on record."""
        ticket = session.scalar(select(TicketRow).where(TicketRow.open_key == open_key(SYSTEM_BRAND, blind_issue(source))))
        if ticket is None:
            return None
        ticket.status = TicketStatus.resolved
        ticket.resolved_at = now
        ticket.open_key = None
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="resolved", detail=f"source {source} {why}"))
        return ticket

    def blind_sources(self, session: Session) -> list[str]:
        """Sources that have an open "blind" ticket."""
        keys = session.scalars(select(TicketRow.issue_key).where(TicketRow.brand == SYSTEM_BRAND, TicketRow.open_key.is_not(None)))
        return [parse_issue_key(key).subject for key in keys if key.startswith(f"{IssueKind.blind}:")]

    def storms(self, session: Session, now: datetime) -> int:
        """Open a ticket for each brand whose mention volume jumped above its own normal
        (overall, or on one source when the whole brand did not), listing its top posts."""
        scoring = self.config.scoring
        if scoring.storm_sensitivity <= 0:
            return 0
        opened = 0
        for brand in self.config.brands:
            found = find_storms(session, brand.name, now, scoring.storm_window, scoring.storm_baseline, scoring.storm_sensitivity)
            overall = [s for s in found if s.scope == "all"]
            for storm in overall or found:
                if self._open_storm(session, brand.name, storm, now) is not None:
                    opened += 1
        return opened

    def _open_storm(self, session: Session, brand: str, storm: Storm, now: datetime) -> TicketRow | None:
        key = open_key(brand, storm_issue(storm.scope))
        if session.scalar(select(TicketRow.id).where(TicketRow.open_key == key)) is not None:
            return None  # this storm already has its ticket
        reason = storm.reason(self.config.scoring.storm_window)
        where = "" if storm.scope == "all" else f" ({storm.scope})"
        ticket = TicketRow(
            brand=brand, issue_key=storm_issue(storm.scope), open_key=key, title=f"提及量激增 mention storm{where}: {storm.count} in {format_duration(self.config.scoring.storm_window)}",
            status=TicketStatus.open, severity=Severity.important.name, categories=[], reasons=[reason], opened_at=now,
            due_at=now + self.config.tickets.sla.get(Severity.important, timedelta(hours=12)),
        )
        try:
            with session.begin_nested():
                session.add(ticket)
                session.flush()
        except IntegrityError:  # another replica found the same storm a moment ago
            return None
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="opened", detail=f"important: {reason}"))
        posts = top_posts(session, brand, now - self.config.scoring.storm_window, source=None if storm.scope == "all" else storm.scope)
        for post in posts:
            self._join(session, ticket, post, [], now)
        assign_by_matrix(session, ticket, self.config.owners, posts[0].platform if posts else None, now)
        add_steps(session, ticket, self.config.playbooks, now)
        session.flush()
        self.notifier.notify(session, ticket, "opened", now)
        return ticket

    def steps_overdue(self, session: Session, now: datetime) -> int:
        """An overdue playbook step is an event, and reminds the owner once (the routes,
        when the owner has no address)."""
        found = overdue_steps(session, now)
        for ticket, step in found:
            if not self.notifier.tell_owner(session, ticket, "step_overdue", now, step=step.number):
                # the first route (the team that works the case), not management too
                self.notifier.notify(session, ticket, "step_overdue", now, step=step.number, first_route_only=True)
        return len(found)

    def follow_up_due(self, session: Session, now: datetime) -> int:
        """Look again at resolved cases whose follow-up is due: reopen one that flares up
        (and tell its owner), or, with ``reopen_within = "0s"`` (never reopen), open a new
        ticket for it that names the old one (its owner told); a flare-up a newer ticket
        already works is recorded with that ticket's number; the others are quiet."""
        due = session.scalars(select(TicketRow).where(TicketRow.status == TicketStatus.resolved, TicketRow.follow_up_at <= now)).all()
        for ticket in due:
            ticket.follow_up_at = None
            why = flare_up(session, ticket, self.config.scoring.velocity_important)
            if why is None:
                session.add(EventRow(ticket_id=ticket.id, at=now, kind="follow_up", detail="quiet after follow-up / 回访期内平稳"))
                continue
            if self._open_elsewhere(session, ticket, why, now):
                continue
            try:
                with session.begin_nested():
                    if self.config.tickets.reopen_within:
                        self.reopen(session, ticket, now, "follow-up", f"flared up during follow-up: {why} / 回访期内复发")
                    else:
                        new = self._open_follow_up(session, ticket, why, now)
                        session.add(EventRow(
                            ticket_id=ticket.id, at=now, kind="follow_up", actor="follow-up",
                            detail=f"flared up ({why}); opened #{new.id}, as reopen_within = 0s never reopens / 回访期内复发，已开新工单 #{new.id}",
                        ))
            except (IntegrityError, TicketError):  # another replica opened the issue a moment ago
                if not self._open_elsewhere(session, ticket, why, now):
                    session.add(EventRow(ticket_id=ticket.id, at=now, kind="follow_up", actor="follow-up", detail=f"flared up ({why}) / 回访期内复发"))
        return len(due)

    @staticmethod
    def _open_elsewhere(session: Session, ticket: TicketRow, why: str, now: datetime) -> bool:
        """When the issue of a resolved ``ticket`` is open again in a newer ticket (a new
        post opened it), record the flare-up on ``ticket`` naming that one."""
        other = session.scalar(select(TicketRow.id).where(TicketRow.open_key == open_key(ticket.brand, ticket.issue_key)))
        if other is None:
            return False
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="follow_up", actor="follow-up", detail=f"flared up ({why}); the issue is open again as #{other} / 回访期内复发，已在 #{other} 处理"))
        return True

    def _open_follow_up(self, session: Session, old: TicketRow, why: str, now: datetime) -> TicketRow:
        """A new ticket for a resolved issue that flared up during its follow-up: same
        issue, severity, categories and owner, carrying the issue's new mentions and the old
        ticket's posts; its routes and its owner are told."""
        severity = Severity[old.severity]
        reason = f"flared up during the follow-up of #{old.id}: {why}"
        ticket = TicketRow(
            brand=old.brand, issue_key=old.issue_key, open_key=open_key(old.brand, old.issue_key), title=old.title, status=TicketStatus.open,
            severity=severity.name, categories=list(old.categories or []), reasons=[reason], opened_at=now,
            due_at=now + self.config.tickets.sla.get(severity, timedelta(hours=24)), owner=old.owner, team=old.team,
        )
        session.add(ticket)
        session.flush()
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="opened", actor="follow-up", detail=f"{severity.name}: {reason} / #{old.id} 回访期内复发"))
        self._follows(session, ticket, now, previous=old)
        fresh = session.execute(
            select(PostRow, MentionRow.categories)
            .join(MentionRow, MentionRow.post_id == PostRow.id)
            .where(MentionRow.brand == old.brand, MentionRow.issue_key == old.issue_key, MentionRow.seen_at > old.resolved_at)
            .order_by(MentionRow.id)
            .limit(FLARE_POSTS)
        ).all()
        for post, categories in fresh:
            self._join(session, ticket, post, list(categories or []), now)
        for link in old.posts[: max(0, FLARE_POSTS - len(fresh))]:
            self._join(session, ticket, link.post, [], now)
        if old.owner:
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="assigned", actor="follow-up", detail=f"{old.owner} (owner of #{old.id}) / 沿用 #{old.id} 的负责人"))
        else:
            assign_by_matrix(session, ticket, self.config.owners, old.posts[0].post.platform if old.posts else None, now)
        add_steps(session, ticket, self.config.playbooks, now)
        session.flush()
        similar = similar_cases(session, ticket, limit=3)
        if similar:
            session.add(EventRow(ticket_id=ticket.id, at=now, kind="similar_cases", detail=", ".join(f"#{c.ticket_id} ({c.score:.2f})" for c in similar)))
        self.notifier.notify(session, ticket, "opened", now)
        self.notifier.tell_owner(session, ticket, "opened", now)
        return ticket

    def remind_due(self, session: Session, now: datetime) -> int:
        """One reminder for each unresolved ticket older than its ``remind_after``: to its
        owner when the config knows their address, otherwise to the routes."""
        count = 0
        for severity, after in self.config.tickets.remind_after.items():
            tickets = session.scalars(
                select(TicketRow).where(
                    TicketRow.status != TicketStatus.resolved,
                    TicketRow.severity == severity.name,
                    TicketRow.reminded_at.is_(None),
                    func.coalesce(TicketRow.reopened_at, TicketRow.opened_at) <= now - after,  # a reopened case's clock starts again
                )
            ).all()
            for ticket in tickets:
                ticket.reminded_at = now
                session.add(EventRow(ticket_id=ticket.id, at=now, kind="reminder", detail=f"unresolved after {after}"))
                if not self.notifier.tell_owner(session, ticket, "reminder", now):
                    self.notifier.notify(session, ticket, "reminder", now)
                count += 1
        return count
