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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import Alert, AlertPost, Renderer, Route, Severity, routes_for
from alerts.pacing import WorkingHours, news_due, repeat_due

from .models import AlertGroupRow, EventRow, NoticeRow, TicketRow
from .outbox import Outbox
from .silences import active_silences, describe, silence_for
from .store import latest_snapshot

log = logging.getLogger("monitor.notify")
MAX_POSTS_IN_MESSAGE = 20
NEWS = ("opened", "raised", "reopened")
PRIORITY = {"opened": 0, "reopened": 1, "raised": 2, "reminder": 3, "repeat": 4}
"""When one flush holds several notices for one ticket, the message tells the first of these."""


def build_alert(session: Session, ticket: TicketRow, kind: str, previous: Severity | None = None, *, ack_command: str = "", note: str = "") -> Alert:
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
        note=note,
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

    def __post_init__(self) -> None:
        self._by_name = {route.name: route for route in self.routes}

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
        key_suffix: str = "",
    ) -> list[NoticeRow]:
        """Record that the routes matching ``ticket`` must hear ``kind``.

        With ``newly_for`` (the ticket's categories before a change) only routes that did
        not match before are told: a new category can bring in, say, the legal route."""
        severity = Severity[ticket.severity]
        routes = routes_for(severity, ticket.categories or (), ticket.brand, self.routes)
        if newly_for is not None:
            before = {r.name for r in routes_for(severity, newly_for, ticket.brand, self.routes)}
            routes = [r for r in routes if r.name not in before]
        notices = []
        for route in routes:
            key = f"ticket-{ticket.id}-{kind}-{severity.name}-{route.name}{key_suffix}"
            if session.scalar(select(NoticeRow.id).where(NoticeRow.key == key)) is not None:
                continue  # replaying the same change records nothing twice
            route_kind, route_previous = self._supersede(session, route.name, ticket.id, kind, previous)
            group_key = route.group_key(severity, ticket.brand, ticket.categories or ())
            due = news_due(route, severity, now, self._last_flush(session, route.name, group_key))
            notices.append(self._add(session, key, route, group_key, ticket, route_kind, severity, now, due, route_previous))
        return notices

    @staticmethod
    def _supersede(session: Session, route: str, ticket_id: int, kind: str, previous: Severity | None) -> tuple[str, Severity | None]:
        """A ticket raised while its earlier notice still waits (say, important, gathering
        for a minute) is told once, at its new severity and at the new pace; if the route
        never heard of it, the one message is its opening."""
        waiting = session.scalars(
            select(NoticeRow).where(NoticeRow.route == route, NoticeRow.ticket_id == ticket_id, NoticeRow.status == "pending")
        ).all()
        for notice in waiting:
            notice.status = "superseded"
        if any(n.kind == "opened" for n in waiting):
            return "opened", None
        return kind, previous

    def _add(
        self, session: Session, key: str, route: Route, group_key: str, ticket: TicketRow, kind: str, severity: Severity,
        now: datetime, due: datetime, previous: Severity | None = None,
    ) -> NoticeRow:
        if self.working_hours is not None:
            due = self.working_hours.defer(due, severity, self.timezone)
        notice = NoticeRow(
            key=key, route=route.name, group_key=group_key, ticket_id=ticket.id, kind=kind, severity=severity.name,
            previous_severity=previous.name if previous else None, created_at=now, due_at=due, status="pending",
        )
        session.add(notice)
        session.flush()
        return notice

    @staticmethod
    def _last_flush(session: Session, route: str, group_key: str) -> datetime | None:
        return session.scalar(select(AlertGroupRow.last_flush_at).where(AlertGroupRow.route == route, AlertGroupRow.group_key == group_key))

    # -- stage 2: group and hand to the outbox ------------------------------------------

    def flush_due(self, session: Session, now: datetime) -> int:
        """Queue one message per route group that has a notice due; returns how many groups were told."""
        groups = session.execute(
            select(NoticeRow.route, NoticeRow.group_key).where(NoticeRow.status == "pending", NoticeRow.due_at <= now).distinct()
        ).all()
        told = 0
        for route_name, group_key in groups:
            told += self._flush_group(session, route_name, group_key, now)
        return told

    def _flush_group(self, session: Session, route_name: str, group_key: str, now: datetime) -> int:
        pending = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.route == route_name, NoticeRow.group_key == group_key, NoticeRow.status == "pending")
            .order_by(NoticeRow.id)
            .with_for_update(skip_locked=True)
        ).all()
        route = self._by_name.get(route_name)
        if route is None:
            for notice in pending:
                notice.status = "dropped"  # the route left the config; its tickets keep their timeline
            return 0
        silences = active_silences(session, now)
        chosen: dict[int, NoticeRow] = {}
        for notice in pending:
            ticket = session.get(TicketRow, notice.ticket_id)
            if ticket is None or _stale(notice.kind, ticket.status):
                notice.status = "dropped"  # acknowledged or closed before the nudge was due
                continue
            silence = silence_for(session, ticket, silences)
            if silence is not None:
                notice.status = "silenced"
                session.add(EventRow(ticket_id=ticket.id, at=now, kind="silenced", detail=f"{notice.kind} to route {route_name} held by {describe(silence)}"))
                continue
            best = chosen.get(ticket.id)
            if best is None or PRIORITY.get(notice.kind, 9) < PRIORITY.get(best.kind, 9):
                chosen[ticket.id] = notice
        if not chosen:
            return 0
        tickets = sorted((session.get(TicketRow, tid) for tid in chosen), key=lambda t: (-Severity[t.severity], t.id))  # type: ignore[union-attr]
        alerts = [
            build_alert(session, t, chosen[t.id].kind, _severity(chosen[t.id].previous_severity), ack_command=self.ack_command)
            for t in tickets if t is not None
        ]
        first = min(chosen.values(), key=lambda n: n.id)
        key = first.key if len(chosen) == 1 else f"group-{route_name}-{first.id}"
        kinds = ", ".join(dict.fromkeys(a.kind for a in alerts))
        self.outbox.queue(
            session, key=key, route=route.name, tickets=[t for t in tickets if t is not None], rendered=self.renderer.render(alerts, route.name),
            now=now, to=route.to, chat=route.chat, thread=route.name, what=kinds,
        )
        for notice in pending:
            if notice.status == "pending":
                notice.status = "sent"
                notice.message_key = key
        row = session.get(AlertGroupRow, (route_name, group_key))
        if row is None:
            session.add(AlertGroupRow(route=route_name, group_key=group_key, last_flush_at=now))
        else:
            row.last_flush_at = now
        session.flush()
        return 1

    # -- stage 3: clocks ----------------------------------------------------------------

    def repeat(self, session: Session, now: datetime) -> int:
        """Re-announce unacknowledged tickets every ``repeat_interval``; announce tickets a
        silence held back once the silence is over."""
        count = 0
        silences = active_silences(session, now)
        for ticket in session.scalars(select(TicketRow).where(TicketRow.status == "open")):
            severity = Severity[ticket.severity]
            for route in routes_for(severity, ticket.categories or (), ticket.brand, self.routes):
                told = session.execute(
                    select(NoticeRow.status, func.max(NoticeRow.created_at))
                    .where(NoticeRow.route == route.name, NoticeRow.ticket_id == ticket.id)
                    .group_by(NoticeRow.status)
                ).all()
                last = dict(told)
                if "pending" in last or not last:
                    continue  # something is on its way, or this route never had reason to hear of it
                if silence_for(session, ticket, silences) is not None:
                    continue
                group_key = route.group_key(severity, ticket.brand, ticket.categories or ())
                last_flush = self._last_flush(session, route.name, group_key)
                sent = last.get("sent")
                if sent is None:
                    if "silenced" not in last:
                        continue
                    due, key = now, f"ticket-{ticket.id}-unsilenced-{route.name}-{last['silenced'].isoformat()}"
                else:
                    due, key = repeat_due(route, severity, sent, last_flush), f"ticket-{ticket.id}-repeat-{route.name}-{sent.isoformat()}"
                if due > now or session.scalar(select(NoticeRow.id).where(NoticeRow.key == key)) is not None:
                    continue
                self._add(session, key, route, group_key, ticket, "repeat", severity, now, now)
                count += 1
        return count

    def escalate(self, session: Session, now: datetime) -> int:
        """Tickets still unacknowledged past ``due_at + step.after`` go to that step's
        receivers, once per step; acknowledging stops the chain."""
        count = 0
        chains = [route for route in self.routes if route.escalate_to]
        if not chains:
            return 0
        first = min(step.after for route in chains for step in route.escalate_to)
        silences = active_silences(session, now)
        overdue = session.scalars(select(TicketRow).where(TicketRow.status == "open", TicketRow.due_at <= now - first))
        for ticket in overdue:
            severity = Severity[ticket.severity]
            matched = {r.name for r in routes_for(severity, ticket.categories or (), ticket.brand, self.routes)}
            for route in chains:
                if route.name not in matched:
                    continue
                for number, step in enumerate(route.escalate_to, start=1):
                    if ticket.due_at + step.after > now:
                        break
                    if silence_for(session, ticket, silences) is not None:
                        break
                    note = f"step {number}: not acknowledged by {ticket.due_at.astimezone(self.timezone):%Y-%m-%d %H:%M %Z} / 超过回应期限未确认"
                    alert = build_alert(session, ticket, "escalated", ack_command=self.ack_command, note=note)
                    queued = self.outbox.queue(
                        session, key=f"ticket-{ticket.id}-escalate-{route.name}-{number}", route=route.name, tickets=[ticket],
                        rendered=self.renderer.render(alert, route.name), now=now, to=step.to, chat=step.chat,
                        thread=f"{route.name}-escalation", what=f"escalation step {number}",
                    )
                    if queued:
                        receivers = ", ".join([*step.to, *(f"chat:{c}" for c in step.chat)])
                        session.add(EventRow(ticket_id=ticket.id, at=now, kind="escalated", detail=f"route {route.name} step {number} → {receivers}"))
                        count += 1
        return count

    def tell_owner(self, session: Session, ticket: TicketRow, kind: str, now: datetime, *, key: str, note: str = "") -> bool:
        """A direct message to the ticket's owner, when the config knows their address."""
        address = self.people.get(ticket.owner or "")
        if not address:
            return False
        alert = build_alert(session, ticket, kind, ack_command=self.ack_command, note=note)
        severity = Severity[ticket.severity]
        not_before = self.working_hours.defer(now, severity, self.timezone) if self.working_hours else now
        queued = self.outbox.queue(
            session, key=key, route=f"owner:{ticket.owner}", tickets=[ticket], rendered=self.renderer.render(alert),
            now=now, to=[address], thread=f"owner-{ticket.owner}", what=kind, not_before=not_before,
        )
        return bool(queued)


def _stale(kind: str, status: str) -> bool:
    """News (opened, raised, reopened) is told even if the ticket was closed meanwhile:
    the team should know it happened. Nudges are not, once someone has acted."""
    if kind == "repeat":
        return status != "open"
    return kind == "reminder" and status == "resolved"


def _severity(name: str | None) -> Severity | None:
    return Severity[name] if name else None
