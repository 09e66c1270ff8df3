"""Playbooks and the responsibility matrix: an alert says what to do and whose it is.

The playbooks in ``domain/`` are clear that an alert is only the start: every case has an
owner, a checklist with deadlines (verify within 1 h, answer publicly within 2 h), the
customer's demands that must all be met before closing, and a follow-up after closing.
These functions apply that to a ticket; the clocks (overdue steps, follow-up) run with
the other clocks in the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import OwnerRule, Playbook
from monitor.storage.models import DemandRow, EventRow, MentionRow, PostRow, SnapshotRow, StepRow, TicketPostRow, TicketRow
from monitor.storage.states import DemandStatus, TicketStatus
from monitor.tickets.lookup import TicketError, get_ticket


def playbooks_for(ticket_categories: Sequence[str], playbooks: Mapping[str, Playbook]) -> list[Playbook]:
    """The playbooks of the ticket's categories, in order; ``default`` when none has one."""
    found = [playbooks[c] for c in ticket_categories if c in playbooks]
    if not found and "default" in playbooks:
        found = [playbooks["default"]]
    return found


def donts_for(ticket_categories: Sequence[str], playbooks: Mapping[str, Playbook]) -> list[str]:
    """The classic mistakes to avoid, from the playbooks of the ticket's categories, each once."""
    return list(dict.fromkeys(d for p in playbooks_for(ticket_categories, playbooks) for d in p.dont))


def add_steps(session: Session, ticket: TicketRow, playbooks: Mapping[str, Playbook], now: datetime) -> int:
    """Put the checklist of every playbook that applies and is not on the ticket yet
    (a category that joins later brings its own steps); deadlines count from now: the
    opening, or the moment the category joined."""
    have = {step.category for step in ticket.steps}
    number = max((step.number for step in ticket.steps), default=0)
    added = 0
    for playbook in playbooks_for(ticket.categories or (), playbooks):
        if playbook.category in have:
            continue
        for step in playbook.steps:
            number += 1
            ticket.steps.append(StepRow(number=number, category=playbook.category, text=step.do, due_at=now + step.within))
            added += 1
    if added:
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="playbook", detail=f"{added} step(s) from the playbook / 处置步骤已添加"))
    return added


def assign_by_matrix(session: Session, ticket: TicketRow, rules: Sequence[OwnerRule], platform: str | None, now: datetime) -> OwnerRule | None:
    """The first row for the ticket's primary category owns a new ticket, else the first
    row without a category. Categories are in order of severity, so a media crisis that
    also mentions a leak goes to whoever owns media (or the default), never to quality."""
    primary = list(ticket.categories or ())[:1]
    rule = next((r for r in rules if r.category is not None and r.matches(primary, ticket.brand, platform)), None)
    if rule is None:
        rule = next((r for r in rules if r.category is None and r.matches(primary, ticket.brand, platform)), None)
    if rule is None:
        return None
    ticket.owner, ticket.team = rule.person, rule.team
    session.add(EventRow(ticket_id=ticket.id, at=now, kind="assigned", detail=f"{rule.person} ({rule.team}) by the responsibility matrix / 按责任矩阵指派"))
    return rule


def tick_step(session: Session, ticket_id: int, number: int, now: datetime, actor: str, note: str = "") -> StepRow:
    ticket = get_ticket(session, ticket_id)
    step = next((s for s in ticket.steps if s.number == number), None)
    if step is None:
        raise TicketError(f"ticket #{ticket_id} has no step {number} / 没有第 {number} 步")
    if step.done_at is not None:
        raise TicketError(f"step {number} of #{ticket_id} is already done / 该步骤已完成")
    step.done_at, step.done_by, step.note = now, actor, note.strip()
    late = " (late / 超时)" if now > step.due_at else ""
    session.add(EventRow(ticket_id=ticket_id, at=now, kind="step_done", detail=f"{number}. {step.text}{late}" + (f": {note.strip()}" if note.strip() else ""), actor=actor))
    return step


def add_demand(session: Session, ticket_id: int, text: str, now: datetime, actor: str) -> DemandRow:
    ticket = get_ticket(session, ticket_id)
    if ticket.status == TicketStatus.resolved:
        raise TicketError(f"#{ticket_id} is resolved: reopen it first (tickets reopen {ticket_id}) / 工单已解决，请先重新打开")
    if not text.strip():
        raise TicketError("the demand is empty / 诉求为空")
    demand = DemandRow(number=max((d.number for d in ticket.demands), default=0) + 1, text=text.strip(), status=DemandStatus.open, created_at=now, created_by=actor)
    ticket.demands.append(demand)
    session.add(EventRow(ticket_id=ticket_id, at=now, kind="demand", detail=f"{demand.number}. {demand.text}", actor=actor))
    return demand


def meet_demand(session: Session, ticket_id: int, number: int, now: datetime, actor: str) -> DemandRow:
    ticket = get_ticket(session, ticket_id)
    demand = next((d for d in ticket.demands if d.number == number), None)
    if demand is None:
        raise TicketError(f"ticket #{ticket_id} has no demand {number} / 没有第 {number} 项诉求")
    if demand.status == DemandStatus.done:
        raise TicketError(f"demand {number} of #{ticket_id} is already met / 该诉求已处理")
    demand.status, demand.done_at, demand.done_by = DemandStatus.done, now, actor
    session.add(EventRow(ticket_id=ticket_id, at=now, kind="demand_met", detail=f"{number}. {demand.text}", actor=actor))
    return demand


def _totals(session: Session, posts: Any, until: datetime | None) -> dict[int, int]:
    """Each post's latest engagement total (up to ``until``), in two queries for any number of posts."""
    latest = select(SnapshotRow.post_id, func.max(SnapshotRow.at).label("at")).where(SnapshotRow.post_id.in_(posts))
    if until is not None:
        latest = latest.where(SnapshotRow.at <= until)
    latest_sq = latest.group_by(SnapshotRow.post_id).subquery()
    rows = session.execute(
        select(SnapshotRow.post_id, SnapshotRow.reposts, SnapshotRow.comments, SnapshotRow.likes)
        .join(latest_sq, (latest_sq.c.post_id == SnapshotRow.post_id) & (latest_sq.c.at == SnapshotRow.at))
    ).all()
    return {post_id: (reposts or 0) + (comments or 0) + (likes or 0) for post_id, reposts, comments, likes in rows}


def overdue_steps(session: Session, now: datetime) -> list[tuple[TicketRow, StepRow]]:
    """Steps past their deadline, not done, on unresolved tickets: each found once."""
    rows = session.execute(
        select(TicketRow, StepRow)
        .join(StepRow, StepRow.ticket_id == TicketRow.id)
        .where(TicketRow.status != TicketStatus.resolved, StepRow.done_at.is_(None), StepRow.overdue_at.is_(None), StepRow.due_at <= now)
        .order_by(StepRow.ticket_id, StepRow.number)
    ).all()
    for ticket, step in rows:
        step.overdue_at = now
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="step_overdue", detail=f"{step.number}. {step.text} (due {step.due_at.isoformat(timespec='minutes')}) / 步骤超时"))
    return [(ticket, step) for ticket, step in rows]


FLARE_SHARE = 0.5
"""Growth since resolving, as a share of the engagement the posts had then, that counts
as flaring up: an old viral post's long tail (+3 likes an hour on 5,000) is not news."""


def flare_up(session: Session, ticket: TicketRow, threshold: int) -> str | None:
    """Why a resolved case looks alive again, or None: its posts gained at least
    ``threshold`` engagement since it was resolved and at least half again what they had,
    or new mentions of its issue appeared."""
    since = ticket.resolved_at
    if since is None:
        return None
    posts = select(TicketPostRow.post_id).where(TicketPostRow.ticket_id == ticket.id)
    at_resolve = _totals(session, posts, since)
    now_totals = _totals(session, posts, None)
    base = sum(at_resolve.get(post_id, 0) for post_id in now_totals)
    grown = sum(max(0, total - at_resolve.get(post_id, total)) for post_id, total in now_totals.items())
    if grown >= threshold and grown >= FLARE_SHARE * base:
        return f"its posts gained +{grown} engagement since it was resolved (from {base}) / 解决后互动增加 {grown}"
    fresh = session.scalar(
        select(func.count(MentionRow.id))
        .join(PostRow, PostRow.id == MentionRow.post_id)
        .where(MentionRow.brand == ticket.brand, MentionRow.issue_key == ticket.issue_key, MentionRow.seen_at > since)
    ) or 0
    if fresh:
        return f"{fresh} new mention(s) of the issue since it was resolved / 解决后出现 {fresh} 条新提及"
    return None
