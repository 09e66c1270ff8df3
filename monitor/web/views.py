"""The data behind each console page, as plain dicts: the HTML pages and the JSON API
show the same thing because they read it here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.config import BrandConfig, Playbook, ScoringConfig
from monitor.detect.forecast import band
from monitor.detect.scoring import Reading
from monitor.storage.hotlists import list_curves, topic_points
from monitor.storage.models import MentionRow, PostRow, SnapshotRow, TicketPostRow, TicketRow
from monitor.storage.states import TicketStatus
from monitor.tickets.actions import ticket_detail, ticket_summary

SEVERITY_RANK = {"urgent": 3, "important": 2, "normal": 1}
MAX_CURVES = 10
"""Posts per ticket page drawn with a curve: the most engaged ones; a storm may have 500."""


def _with_state(ticket: TicketRow, now: datetime) -> dict[str, Any]:
    row = ticket_summary(ticket)
    row["overdue"] = ticket.status == TicketStatus.open and ticket.due_at <= now
    row["overdue_steps"] = sum(1 for st in ticket.steps if st.done_at is None and st.due_at <= now) if ticket.status != TicketStatus.resolved else 0
    return row


def inbox(session: Session, now: datetime, status: str = "unresolved", limit: int = 200) -> tuple[list[dict[str, Any]], int]:
    """Unresolved tickets, most severe first, then the nearest deadline; or, for another
    ``status`` ("all", "resolved", …), the newest first. At most ``limit`` of them, and how
    many there are in all."""
    query = select(TicketRow)
    if status == "unresolved":
        query = query.where(TicketRow.status != TicketStatus.resolved)
        rank = case(SEVERITY_RANK, value=TicketRow.severity, else_=0)
        query = query.order_by(rank.desc(), TicketRow.due_at, TicketRow.id)
    else:
        if status != "all":
            query = query.where(TicketRow.status == status)
        query = query.order_by(TicketRow.opened_at.desc(), TicketRow.id.desc())
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return [_with_state(t, now) for t in session.scalars(query.limit(limit))], total


def curves(session: Session, post_ids: list[int]) -> dict[int, list[tuple[datetime, int]]]:
    """Each post's readings as (time, reposts + comments + likes), oldest first."""
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if not post_ids:
        return found
    for snap in session.scalars(select(SnapshotRow).where(SnapshotRow.post_id.in_(post_ids)).order_by(SnapshotRow.at, SnapshotRow.id)):
        found[snap.post_id].append((snap.at, (snap.reposts or 0) + (snap.comments or 0) + (snap.likes or 0)))
    return found


def ticket_page(
    session: Session, ticket: TicketRow, now: datetime, *, playbooks: Mapping[str, Playbook] | None = None, scoring: ScoringConfig | None = None
) -> dict[str, Any]:
    """``tickets show --json`` plus what a page needs: each post's id and curve (and, for
    a hot-list topic, its rank and heat), and one line per hot list the brand is on; with
    ``scoring``'s forecast on, the forecast of a drawn curve while it has one."""
    detail = ticket_detail(session, ticket, now, playbooks=playbooks)
    detail["overdue"] = ticket.status == TicketStatus.open and ticket.due_at <= now
    links = list(ticket.posts)
    drawn = curves(session, [link.post_id for link in links])
    ranked_on_lists = topic_points(session, [link.post_id for link in links])
    # two budgets: the most engaged posts' curves, and the best-placed topics' rank charts (a
    # topic has no engagement: in one budget it would queue behind every complaint)
    engaged = sorted((i for i, link in enumerate(links) if link.post_id not in ranked_on_lists), key=lambda i: -(drawn[links[i].post_id][-1][1] if drawn[links[i].post_id] else 0))
    keep = set(engaged[:MAX_CURVES])
    placed = set(sorted(ranked_on_lists, key=lambda post_id: min(p.rank for p in ranked_on_lists[post_id] if p.rank is not None))[:MAX_CURVES])
    for i, (link, post) in enumerate(zip(links, detail["posts"], strict=True)):
        post["id"] = link.post_id
        post["curve"] = [{"at": at.isoformat(), "total": total} for at, total in drawn[link.post_id]] if i in keep else []
        post["ranks"] = [{"at": p.at.isoformat(), "rank": p.rank, "heat": p.heat} for p in ranked_on_lists[link.post_id]] if link.post_id in placed else []
        post["forecast"] = forecast_of(drawn[link.post_id], link.post.created_at, now, scoring) if i in keep else None
    detail["hot_lists"] = hot_lists(session, [link.post for link in links])
    return detail


def hot_lists(session: Session, posts: list[PostRow]) -> list[dict[str, Any]]:
    """One line per hot list the ticket's topics are on (best-placed list first): the
    topic, when it first appeared there, its best rank, peak heat, and where it is now."""
    return [
        {
            "list": curve.title,
            "platform": curve.platform,
            "topic": curve.topic,
            "post_id": curve.post_id,
            "first_listed": curve.first_listed.isoformat(),
            "best_rank": curve.best_rank,
            "peak_heat": curve.peak_heat,
            "rank_now": curve.points[-1].rank,
            "left_at": curve.left_at.isoformat() if curve.left_at is not None else None,
            "other_topics": curve.others,
        }
        for curve in list_curves(session, posts)
    ]


def forecast_of(points: list[tuple[datetime, int]], created_at: datetime | None, now: datetime, scoring: ScoringConfig | None) -> dict[str, Any] | None:
    """A post's forecast over the next ``velocity_window`` from its last reading, as the
    page draws and states it: the last reading, then (time, lower, expected, upper) at
    even steps to the window's end; None with the forecast off or none to show."""
    if scoring is None or not scoring.forecast_trigger:
        return None
    got = band([Reading(at, total) for at, total in points], created_at, scoring.velocity_window, now, confidence=scoring.forecast_confidence)
    if got is None:
        return None
    start = got.start
    return {
        "from": {"at": start.at.isoformat(), "total": start.total},
        "confidence": scoring.forecast_confidence,
        "window": scoring.velocity_window.total_seconds(),
        "points": [{"at": (start.at + f.horizon).isoformat(), "low": round(f.low), "expected": round(f.point), "high": round(f.high)} for f in got.steps],
    }


def recent_mentions(
    session: Session, since: datetime, brand: str | None = None, limit: int = 100, brands: Iterable[BrandConfig] | None = None
) -> list[dict[str, Any]]:
    """Mentions seen since ``since``, newest first, with the post's latest engagement and
    the ticket it joined, if any. A ``brand`` that is not one of ``brands`` has none: the
    name from a URL never reaches the database (PostgreSQL refuses a NUL in it)."""
    if brand and brands is not None and brand not in {b.name for b in brands}:
        return []
    query = (
        select(MentionRow, PostRow)
        .join(PostRow, PostRow.id == MentionRow.post_id)
        .where(MentionRow.seen_at >= since)
        .order_by(MentionRow.seen_at.desc(), MentionRow.id.desc())
        .limit(limit)
    )
    if brand:
        query = query.where(MentionRow.brand == brand)
    pairs = session.execute(query).all()
    post_ids = [post.id for _m, post in pairs]
    latest = {pid: points[-1][1] for pid, points in curves(session, post_ids).items() if points}
    tickets: dict[int, int] = {}
    if post_ids:
        for post_id, ticket_id in session.execute(select(TicketPostRow.post_id, TicketPostRow.ticket_id).where(TicketPostRow.post_id.in_(post_ids))):
            tickets.setdefault(post_id, ticket_id)
    return [
        {
            "brand": mention.brand,
            "seen_at": mention.seen_at.isoformat(),
            "categories": list(mention.categories or []),
            "terms": {name: list(words) for name, words in (mention.terms or {}).items()},
            "issue": mention.issue_key,
            "engagement": latest.get(post.id),
            "ticket_id": tickets.get(post.id),
            "post": {"id": post.id, "platform": post.platform, "url": post.url, "author": post.author, "text": post.text, "source": post.source},
        }
        for mention, post in pairs
    ]
