"""Route → group → notify, as separate small stages (Alertmanager's shape).

1. ``notify`` records a *notice* for every route that must hear of a ticket change, with
   the time pacing allows it to go (``alerts.pacing``). It runs in the transaction that
   changed the ticket, so a change and its notices commit together.
2. ``flush_due`` folds every pending notice of a route's group into one message,
   holding back what a silence covers, and hands it to the outbox.
3. ``repeat`` and ``escalate`` are clocks: an unacknowledged ticket is told again every
   ``repeat_interval``, and past its due time it goes up the route's escalation chain,
   each step exactly once (the outbox key makes it so).

Nothing here talks to a mail server; the courier does that later.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import Alert, AlertCase, AlertPost, AlertStep, Renderer, Route, Severity, routes_for
from alerts.pacing import WorkingHours, news_due, repeat_due
from monitor.config import Playbook, ScoringConfig
from monitor.delivery.charts import curve_png, list_caption, list_charts
from monitor.delivery.links import LinkSigner
from monitor.delivery.outbox import Outbox
from monitor.detect.forecast import band
from monitor.detect.scoring import Reading
from monitor.detect.spread import readings
from monitor.durations import human_duration
from monitor.keys import OWNER, escalation_key, group_message_key, late_key, news_key, owner_key, repeat_key, ticket_group
from monitor.storage.db import insert_once
from monitor.storage.hotlists import ticket_topics
from monitor.storage.models import AlertGroupRow, EventRow, NoticeRow, PostRow, TicketRow
from monitor.storage.posts import latest_snapshot
from monitor.storage.states import NoticeStatus, TicketStatus
from monitor.tickets.cases import similar_cases
from monitor.tickets.playbooks import donts_for
from monitor.tickets.silences import active_silences, describe, silence_for
from sources.hotlist import list_title

log = logging.getLogger("monitor.notify")
MAX_POSTS_IN_MESSAGE = 20
NEWS = ("opened", "raised", "reopened")
CURVE = "curve"
"""Content-ID of the engagement chart in a single-ticket email."""
RANK_CURVE = "rank-curve"
"""… and the start of each hot list's rank-and-heat chart's (``rank-curve-weibo-hot``)."""
PRIORITY = {"opened": 0, "reopened": 1, "raised": 2, "step_overdue": 3, "reminder": 4, "repeat": 5}
"""When a new notice replaces a waiting one for the same ticket, the kind told is the first of these."""


def build_alert(
    session: Session, ticket: TicketRow, kind: str, previous: Severity | None = None, *, ack_command: str = "", note: str = "",
    donts: tuple[str, ...] = (), similar: tuple[AlertCase, ...] = (),
) -> Alert:
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
        ack_command=ack_command.format(id=ticket.id),
        post_count=len(ticket.posts),
        owner=ticket.owner,
        team=ticket.team,
        note=note,
        steps=tuple(AlertStep(s.number, s.text, s.due_at, s.done_at is not None, s.done_at is None and s.overdue_at is not None) for s in ticket.steps),
        donts=donts,
        similar=similar,
    )


@dataclass
class Notifier:
    routes: Sequence[Route]
    renderer: Renderer
    timezone: tzinfo
    working_hours: WorkingHours | None = None
    people: Mapping[str, str] = field(default_factory=dict)
    """Owner name → email address, for reminders and reopenings."""
    ack_command: str = "monitor tickets ack {id}"
    outbox: Outbox = field(default_factory=Outbox)
    playbooks: Mapping[str, Playbook] = field(default_factory=dict)
    """For the "don't" reminders that go with a ticket's checklist."""
    links: LinkSigner | None = None
    """Signs the console links in each message (ticket page, one-click acknowledge)."""
    scoring: ScoringConfig | None = None
    """With ``forecast_trigger`` on, the engagement chart shows the forecast band."""

    def __post_init__(self) -> None:
        self._by_name = {route.name: route for route in self.routes}

    def alert(
        self, session: Session, ticket: TicketRow, kind: str, previous: Severity | None = None, note: str = "", *, sent_to: str = "", now: datetime | None = None
    ) -> Alert:
        """The alert for a message: the ticket, its checklist and don'ts, for news the
        similar past cases and how they were solved, and with a console the links to it
        (the acknowledge link names ``sent_to``, the route the message goes to)."""
        donts = tuple(donts_for(ticket.categories or (), self.playbooks))
        similar: tuple[AlertCase, ...] = ()
        if kind in NEWS or kind == "escalated":
            cases = similar_cases(session, ticket, limit=3)  # the same complaint before, near-copies first
            similar = tuple(AlertCase(c.ticket_id, c.title, " ".join(c.resolution.split()), human_duration(c.took)) for c in cases)
        alert = build_alert(session, ticket, kind, previous, ack_command=self.ack_command, note=note, donts=donts, similar=similar)
        if self.links is not None and now is not None:
            ack_url = self.links.ack_url(ticket.id, sent_to, now, ticket.reopens or 0) if ticket.status == TicketStatus.open else ""
            alert = replace(alert, ticket_url=self.links.ticket_url(ticket.id), ack_url=ack_url)
        return alert

    def _route(self, name: str) -> Route | None:
        # an owner's direct messages (``owner:<name>``) travel as notices too, so silences,
        # working hours and "closed meanwhile" apply to them as to any route
        if name.startswith(OWNER):
            address = self.people.get(name.removeprefix(OWNER))
            # one person, one ticket per group: nothing to gather, and nothing to hold back
            return Route(name, (address,), group_by=(), group_wait={sev: timedelta(0) for sev in Severity}, group_interval=timedelta(0)) if address else None
        return self._by_name.get(name)

    # -- stage 1: record ------------------------------------------------------------------

    def notify(
        self,
        session: Session,
        ticket: TicketRow,
        kind: str,
        now: datetime,
        *,
        previous: Severity | None = None,
        newly_for: Sequence[str] | None = None,
        step: int | None = None,
        first_route_only: bool = False,
    ) -> list[NoticeRow]:
        """Record that the routes matching ``ticket`` must hear ``kind``.

        With ``newly_for`` (the ticket's categories before a change) only routes that did
        not match before are told: a new category can bring in, say, the legal route.
        ``step`` names the playbook step of a ``step_overdue`` nudge (one per step)."""
        severity = Severity[ticket.severity]
        routes = routes_for(severity, ticket.categories or (), ticket.brand, self.routes)
        if newly_for is not None:
            before = {r.name for r in routes_for(severity, newly_for, ticket.brand, self.routes)}
            routes = [r for r in routes if r.name not in before]
        if first_route_only:
            routes = routes[:1]
        notices = []
        for route in routes:
            # each reopening is told afresh
            key = news_key(ticket.id, kind, severity.name, route.name, ticket.reopens or 0, step)
            notice = self._record(session, key, route, ticket, kind, severity, now, previous)
            if notice is not None:
                notices.append(notice)
        return notices

    def tell_owner(self, session: Session, ticket: TicketRow, kind: str, now: datetime, *, step: int | None = None) -> bool:
        """A direct message to the ticket's owner; False when the config has no address
        for them (the caller then tells the routes)."""
        route = self._route(f"{OWNER}{ticket.owner}") if ticket.owner else None
        if route is None:
            return False
        key = owner_key(ticket.id, kind, route.name, ticket.reopens, step)
        self._record(session, key, route, ticket, kind, Severity[ticket.severity], now)
        return True

    def _record(
        self, session: Session, key: str, route: Route, ticket: TicketRow, kind: str, severity: Severity, now: datetime,
        previous: Severity | None = None,
    ) -> NoticeRow | None:
        if session.scalar(select(NoticeRow.id).where(NoticeRow.key == key)) is not None:
            return None  # replaying the same change records nothing twice
        kind, previous = self._supersede(session, route.name, ticket.id, kind, previous)
        group_key = route.group_key(severity, ticket.brand, ticket.categories or ()) if route.group_by else ticket_group(ticket.id)
        due = news_due(route, severity, now, self._last_flush(session, route.name, group_key)) if kind in NEWS else now
        return self._add(session, key, route, group_key, ticket, kind, severity, now, due, previous)

    @staticmethod
    def _supersede(session: Session, route: str, ticket_id: int, kind: str, previous: Severity | None) -> tuple[str, Severity | None]:
        """One waiting message per ticket and route: a ticket raised while its opening
        still waits (say, important, gathering for a minute) is told once, at its new
        severity and pace, as its opening; a reminder does not replace a reopening."""
        waiting = session.scalars(
            select(NoticeRow).where(NoticeRow.route == route, NoticeRow.ticket_id == ticket_id, NoticeRow.status == NoticeStatus.pending)
        ).all()
        for notice in waiting:
            notice.status = NoticeStatus.superseded
            if PRIORITY.get(notice.kind, 9) < PRIORITY.get(kind, 9):
                kind, previous = notice.kind, _severity(notice.previous_severity)
        return kind, previous

    def _add(
        self, session: Session, key: str, route: Route, group_key: str, ticket: TicketRow, kind: str, severity: Severity,
        now: datetime, due: datetime, previous: Severity | None = None,
    ) -> NoticeRow | None:
        if self.working_hours is not None:
            due = self.working_hours.defer(due, severity, self.timezone)
        notice = NoticeRow(
            key=key, route=route.name, group_key=group_key, ticket_id=ticket.id, kind=kind, severity=severity.name,
            previous_severity=previous.name if previous else None, created_at=now, due_at=due, status=NoticeStatus.pending,
        )
        return notice if insert_once(session, notice) else None

    @staticmethod
    def _last_flush(session: Session, route: str, group_key: str) -> datetime | None:
        return session.scalar(select(AlertGroupRow.last_flush_at).where(AlertGroupRow.route == route, AlertGroupRow.group_key == group_key))

    # -- stage 2: group and hand to the outbox ------------------------------------------

    def flush_due(self, session: Session, now: datetime) -> int:
        """Queue one message per route group that has a notice due; returns how many groups were told."""
        groups = session.execute(
            select(NoticeRow.route, NoticeRow.group_key).where(NoticeRow.status == NoticeStatus.pending, NoticeRow.due_at <= now).distinct()
        ).all()
        told = 0
        for route_name, group_key in groups:
            told += self._flush_group(session, route_name, group_key, now)
        return told

    def _flush_group(self, session: Session, route_name: str, group_key: str, now: datetime) -> int:
        pending = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.route == route_name, NoticeRow.group_key == group_key, NoticeRow.status == NoticeStatus.pending)
            .order_by(NoticeRow.id)
            .with_for_update(skip_locked=True)  # a replica flushing this group now has these
        ).all()
        route = self._route(route_name)
        if route is None:
            for notice in pending:
                notice.status = NoticeStatus.dropped  # the route left the config: ``repeat`` tells the routes that match now
            return 0
        silences = active_silences(session, now)
        chosen: dict[int, tuple[TicketRow, NoticeRow]] = {}
        for notice in pending:
            ticket = session.get(TicketRow, notice.ticket_id)
            if ticket is None or _stale(notice.kind, ticket.status):
                notice.status = NoticeStatus.dropped  # acknowledged or closed before the nudge was due
                continue
            silence = silence_for(session, ticket, silences)
            if silence is not None:
                notice.status = NoticeStatus.silenced
                session.add(EventRow(ticket_id=ticket.id, at=now, kind="silenced", detail=f"{notice.kind} to route {route_name} held by {describe(silence)}"))
                continue
            chosen[ticket.id] = (ticket, notice)
        if not chosen:
            return 0
        entries = sorted(chosen.values(), key=lambda e: (-Severity[e[0].severity], e[0].id))
        alerts = [self.alert(session, t, n.kind, _severity(n.previous_severity), sent_to=route_name, now=now) for t, n in entries]
        first = min((n for _t, n in entries), key=lambda n: n.id)
        key = first.key if len(entries) == 1 else group_message_key(route_name, first.id)
        images: dict[str, str] = {}
        if len(entries) == 1 and route.to:
            chart = self._curve(session, entries[0][0], now)
            if chart is not None:
                images[CURVE] = chart
                alerts[0] = replace(alerts[0], chart=CURVE)
            alerts[0] = self._hot_lists(session, entries[0][0], alerts[0], images)
        self.outbox.queue(
            session, key=key, route=route.name, tickets=[t for t, _n in entries], rendered=self.renderer.render(alerts, route.name),
            now=now, to=route.to, chat=route.chat, thread=route.name, what=", ".join(dict.fromkeys(a.kind for a in alerts)), images=images,
        )
        for notice in pending:
            if notice.status == NoticeStatus.pending:
                notice.status = NoticeStatus.sent
                notice.message_key = key
                notice.sent_at = now
        row = session.get(AlertGroupRow, (route_name, group_key))
        if row is None:
            insert_once(session, AlertGroupRow(route=route_name, group_key=group_key, last_flush_at=now))
        else:
            row.last_flush_at = now
        session.flush()
        return 1

    def _hot_lists(self, session: Session, ticket: TicketRow, alert: Alert, images: dict[str, str]) -> Alert:
        """One rank-and-heat chart per hot list the ticket's topics are on, with its caption
        (when the topic first appeared there); the alert unchanged when there is none."""
        charts = list_charts(session, ticket_topics(session, ticket.id), self.timezone)  # not only the first posts
        for curve, png in charts:
            images[f"{RANK_CURVE}-{curve.platform}"] = png
        if not charts:
            return alert
        return replace(alert, hot_lists=tuple((f"{RANK_CURVE}-{curve.platform}", list_caption(curve, self.timezone)) for curve, _png in charts))

    def _curve(self, session: Session, ticket: TicketRow, now: datetime) -> str | None:
        """The engagement curve of the ticket's most engaged post, as a base64 PNG, with
        its forecast band while there is one; None when no post has two readings yet (a
        line needs two points)."""
        best: list[Reading] = []
        post: PostRow | None = None
        for link in ticket.posts[:MAX_POSTS_IN_MESSAGE]:
            if list_title(link.post.platform):
                continue  # a hot-list topic has no engagement: its rank curve is drawn instead
            points = readings(session, link.post_id)
            if len(points) >= 2 and (not best or points[-1].total > best[-1].total):
                best, post = points, link.post
        if not best or post is None:
            return None
        ahead = self._forecast_band(best, post, now)
        return base64.b64encode(curve_png([(r.at, r.total) for r in best], self.timezone, forecast=ahead)).decode("ascii")

    def _forecast_band(self, curve: list[Reading], post: PostRow, now: datetime) -> list[tuple[datetime, float, float]]:
        """(time, lower, upper bound) from the last reading to the end of the next window,
        starting at the last reading itself; empty with the forecast off or none to show."""
        if self.scoring is None or not self.scoring.forecast_trigger:
            return []
        got = band(curve, post.created_at, self.scoring.velocity_window, now, confidence=self.scoring.forecast_confidence)
        return got.edges() if got is not None else []

    # -- stage 3: clocks ----------------------------------------------------------------

    def repeat(self, session: Session, now: datetime) -> int:
        """Tell unacknowledged tickets again every ``repeat_interval``; announce open
        tickets to a route that matches them but was never told (a silence ended, a
        route was added or renamed)."""
        tickets = session.scalars(select(TicketRow).where(TicketRow.status == TicketStatus.open)).all()
        if not tickets:
            return 0
        told: dict[tuple[str, int], dict[str, datetime]] = {}
        for route_name, ticket_id, status, last in session.execute(
            select(NoticeRow.route, NoticeRow.ticket_id, NoticeRow.status, func.max(func.coalesce(NoticeRow.sent_at, NoticeRow.created_at)))
            .where(NoticeRow.ticket_id.in_([t.id for t in tickets]))
            .group_by(NoticeRow.route, NoticeRow.ticket_id, NoticeRow.status)
        ):
            told.setdefault((route_name, ticket_id), {})[status] = last
        known = {ticket_id for _route, ticket_id in told}  # tickets from before notices existed are left alone
        silences = active_silences(session, now)
        count = 0
        for ticket in tickets:
            if ticket.id not in known:
                continue
            severity = Severity[ticket.severity]
            silenced: bool | None = None
            for route in routes_for(severity, ticket.categories or (), ticket.brand, self.routes):
                state = told.get((route.name, ticket.id), {})
                if NoticeStatus.pending in state:
                    continue  # something is on its way
                sent = state.get(NoticeStatus.sent)
                if sent is None:
                    kind, due = "opened", now
                    key = late_key(ticket.id, route.name, ticket.reopens, max(state.values()) if state else None)
                else:
                    group_key = route.group_key(severity, ticket.brand, ticket.categories or ())
                    kind, due = "repeat", repeat_due(route, severity, sent, self._last_flush(session, route.name, group_key))
                    key = repeat_key(ticket.id, route.name, sent)
                if due > now:
                    continue
                if silenced is None:
                    silenced = silence_for(session, ticket, silences) is not None
                if silenced:
                    break
                if self._record(session, key, route, ticket, kind, severity, now) is not None:
                    count += 1
        return count

    def escalate(self, session: Session, now: datetime) -> int:
        """Tickets still unacknowledged past ``due_at + step.after`` go to that step's
        receivers, once per step (and once more per reopening); acknowledging stops the
        chain. Severities that keep working hours escalate only within them."""
        chains = [route for route in self.routes if route.escalate_to]
        if not chains:
            return 0
        first = min(step.after for route in chains for step in route.escalate_to)
        silences = active_silences(session, now)
        count = 0
        for ticket in session.scalars(select(TicketRow).where(TicketRow.status == TicketStatus.open, TicketRow.due_at <= now - first)):
            severity = Severity[ticket.severity]
            if self.working_hours is not None and self.working_hours.applies(severity) and not self.working_hours.is_open(now, self.timezone):
                continue
            matched = {r.name for r in routes_for(severity, ticket.categories or (), ticket.brand, self.routes)}
            silenced: bool | None = None
            for route in chains:
                if route.name not in matched:
                    continue
                for number, step in enumerate(route.escalate_to, start=1):
                    if ticket.due_at + step.after > now:
                        break
                    key = escalation_key(ticket.id, route.name, number, ticket.reopens or 0)
                    if self.outbox.already(session, key, step.chat):
                        continue
                    if silenced is None:
                        silenced = silence_for(session, ticket, silences) is not None
                    if silenced:
                        break
                    note = f"step {number}: not acknowledged by {ticket.due_at.astimezone(self.timezone):%Y-%m-%d %H:%M %Z} / 超过回应期限未确认"
                    alert = self.alert(session, ticket, "escalated", note=note, sent_to=route.name, now=now)
                    queued = self.outbox.queue(
                        session, key=key, route=route.name, tickets=[ticket], rendered=self.renderer.render(alert, route.name),
                        now=now, to=step.to, chat=step.chat, thread=f"{route.name}-escalation", what=f"escalation step {number}",
                    )
                    if queued:
                        receivers = ", ".join([*step.to, *(f"chat:{c}" for c in step.chat)])
                        session.add(EventRow(ticket_id=ticket.id, at=now, kind="escalated", detail=f"route {route.name} step {number} → {receivers}"))
                        count += 1
        return count


def _stale(kind: str, status: str) -> bool:
    """News (opened, raised, reopened) is told even if the ticket was closed meanwhile:
    the team should know it happened. Nudges are not, once someone has acted."""
    if kind == "repeat":
        return status != TicketStatus.open
    return kind in ("reminder", "step_overdue") and status == TicketStatus.resolved


def _severity(name: str | None) -> Severity | None:
    return Severity[name] if name else None
