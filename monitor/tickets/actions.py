"""Reading and changing tickets for people (CLI today, a web console later)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.keys import open_key
from monitor.storage.models import EventRow, TicketRow
from monitor.storage.posts import latest_snapshot
from monitor.storage.states import DemandStatus, TicketStatus
from monitor.tickets.cases import similar_cases
from monitor.tickets.lookup import TicketError, get_ticket
from monitor.tickets.playbooks import donts_for
from monitor.tickets.silences import active_silences, describe, silence_for

if TYPE_CHECKING:
    from monitor.config import Playbook

STATUSES = tuple(s.value for s in TicketStatus)
"""``tickets list --status`` choices (plain strings: the CLI's help shows them as they are)."""
SYSTEM_BRAND = "monitor"
"""The brand of tickets about the monitor itself (a source we can no longer see)."""


def list_tickets(session: Session, status: str | None = None) -> list[TicketRow]:
    query = select(TicketRow).order_by(TicketRow.opened_at.desc(), TicketRow.id.desc())
    if status:
        query = query.where(TicketRow.status == status)
    return list(session.scalars(query))


def acknowledge(session: Session, ticket_id: int, now: datetime, actor: str) -> TicketRow:
    ticket = get_ticket(session, ticket_id)
    if ticket.status == TicketStatus.resolved:
        raise TicketError(f"ticket #{ticket_id} is already resolved / 工单已解决")
    if ticket.status == TicketStatus.open:
        ticket.status = TicketStatus.acknowledged
        ticket.acked_at = now
        session.add(EventRow(ticket_id=ticket.id, at=now, kind="acknowledged", actor=actor))
    return ticket


def resolve(session: Session, ticket_id: int, now: datetime, actor: str, note: str, *, follow_up: timedelta | None = None) -> TicketRow:
    """Close the case; ``follow_up`` schedules the look back that catches a flare-up."""
    ticket = get_ticket(session, ticket_id)
    if ticket.status == TicketStatus.resolved:
        raise TicketError(f"ticket #{ticket_id} is already resolved / 工单已解决")
    check_resolvable(ticket, note)
    ticket.status = TicketStatus.resolved
    ticket.resolved_at = now
    ticket.resolution = note.strip()
    ticket.follow_up_at = now + follow_up if follow_up and ticket.brand != SYSTEM_BRAND else None
    ticket.open_key = None  # the issue may open a new ticket from now on
    session.add(EventRow(ticket_id=ticket.id, at=now, kind="resolved", detail=note, actor=actor))
    return ticket


def reopen(session: Session, ticket: TicketRow, now: datetime, actor: str, note: str, *, due_at: datetime) -> TicketRow:
    """Back to open with a fresh clock. Refused while another ticket holds the issue open:
    two open tickets for one issue would split its timeline."""
    if ticket.status != TicketStatus.resolved:
        raise TicketError(f"ticket #{ticket.id} is not resolved / 工单未解决，无需重新打开")
    key = open_key(ticket.brand, ticket.issue_key)
    other = session.scalar(select(TicketRow.id).where(TicketRow.open_key == key))
    if other is not None:
        raise TicketError(f"the issue of #{ticket.id} is open again as #{other} / 该问题已有未解决工单 #{other}")
    ticket.status = TicketStatus.open
    ticket.open_key = key
    ticket.resolved_at = None
    ticket.acked_at = None
    ticket.reminded_at = None
    ticket.reopens = (ticket.reopens or 0) + 1
    ticket.reopened_at = now
    ticket.due_at = due_at
    ticket.follow_up_at = None
    since = ticket.opened_at
    for step in ticket.steps:  # the clock starts again for what is not done yet
        if step.done_at is None:
            step.due_at = now + max(step.due_at - since, timedelta(0))
            step.overdue_at = None
    session.add(EventRow(ticket_id=ticket.id, at=now, kind="reopened", detail=note, actor=actor))
    session.flush()
    return ticket


def assign(session: Session, ticket_id: int, now: datetime, actor: str, owner: str) -> TicketRow:
    ticket = get_ticket(session, ticket_id)
    owner = " ".join(owner.split())
    if not owner:
        raise TicketError("--to needs a name / 请填写负责人")
    previous = ticket.owner
    ticket.owner = owner
    detail = f"{previous} → {owner}" if previous else owner
    session.add(EventRow(ticket_id=ticket.id, at=now, kind="assigned", detail=detail, actor=actor))
    return ticket


def add_note(session: Session, ticket_id: int, now: datetime, actor: str, note: str) -> TicketRow:
    ticket = get_ticket(session, ticket_id)
    if not note.strip():
        raise TicketError("the note is empty / 备注为空")
    session.add(EventRow(ticket_id=ticket.id, at=now, kind="note", detail=note.strip(), actor=actor))
    return ticket


def check_resolvable(ticket: TicketRow, note: str) -> None:
    """Closing at 80% is a classic mistake: a note on how it was solved is required, and
    every demand of the customer must be met."""
    if not note.strip():
        raise TicketError(f"resolving #{ticket.id} needs --note: how was it solved? / 请用 --note 说明处理结果")
    open_demands = [d for d in ticket.demands if d.status != DemandStatus.done]
    if open_demands:
        listed = "; ".join(f"{d.number}. {d.text}" for d in open_demands)
        raise TicketError(f"#{ticket.id} still has open demand(s): {listed} (tickets demand done {ticket.id} N) / 仍有未处理的客户诉求")



def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def ticket_summary(ticket: TicketRow) -> dict[str, Any]:
    """The ``tickets list --json`` object (a stable contract: extend, never rename)."""
    return {
        "id": ticket.id,
        "status": ticket.status,
        "severity": ticket.severity,
        "brand": ticket.brand,
        "title": ticket.title,
        "categories": list(ticket.categories or []),
        "post_count": len(ticket.posts),
        "opened_at": _iso(ticket.opened_at),
        "due_at": _iso(ticket.due_at),
        "acknowledged_at": _iso(ticket.acked_at),
        "resolved_at": _iso(ticket.resolved_at),
        "issue": ticket.issue_key,
        "owner": ticket.owner,
        "team": ticket.team,
        "reasons": list(ticket.reasons or []),
        "urls": [link.post.url for link in ticket.posts],
        "reposts": sum(1 for link in ticket.posts if link.post.repost_of),
    }


def ticket_detail(session: Session, ticket: TicketRow, now: datetime | None = None, *, playbooks: Mapping[str, Playbook] | None = None) -> dict[str, Any]:
    """Everything about one ticket; with ``now``, also the silences holding its messages;
    with the config's ``playbooks``, the don'ts that go with its checklist."""
    detail = ticket_summary(ticket)
    if now is not None:
        held = [] if ticket.status == TicketStatus.resolved else [s for s in active_silences(session, now) if silence_for(session, ticket, [s])]
        detail["silenced_by"] = [{"id": s.id, "until": _iso(s.ends_at), "reason": s.reason, "description": describe(s)} for s in held]
    posts = []
    for link in ticket.posts:
        post = link.post
        snap = latest_snapshot(session, post.id)
        posts.append(
            {
                "url": post.url,
                "platform": post.platform,
                "author": post.author,
                "text": post.text,
                "created_at": _iso(post.created_at),
                "joined_at": _iso(link.joined_at),
                "engagement": None if snap is None else {"reposts": snap.reposts, "comments": snap.comments, "likes": snap.likes, "views": snap.views, "at": _iso(snap.at)},
            }
        )
    detail["posts"] = posts
    detail["steps"] = [
        {"number": st.number, "category": st.category, "do": st.text, "due_at": _iso(st.due_at), "done_at": _iso(st.done_at), "done_by": st.done_by, "note": st.note,
         "overdue": st.done_at is None and st.overdue_at is not None}
        for st in ticket.steps
    ]
    detail["donts"] = donts_for(ticket.categories or (), playbooks or {})
    detail["demands"] = [{"number": d.number, "text": d.text, "status": d.status, "done_at": _iso(d.done_at)} for d in ticket.demands]
    detail["resolution"] = ticket.resolution
    detail["similar_cases"] = [c.as_dict() for c in similar_cases(session, ticket, limit=3)]
    detail["timeline"] = [{"at": _iso(e.at), "kind": e.kind, "detail": e.detail, "actor": e.actor} for e in ticket.events]
    return detail
