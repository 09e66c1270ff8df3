"""A ticket's hot-list topics as a manager reads them: one curve per list (微博热搜, 知乎热榜 …)
with the topic's rank and heat at each reading, when it first appeared on that list, and
whether it has left. The alert mail (``delivery/charts``) and the console (``web/views``)
draw the same data, so the two cannot disagree about which topic or which first sighting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.models import PostRow, SnapshotRow, TicketPostRow
from sources.hotlist import LISTS, list_title


@dataclass(frozen=True, slots=True)
class ListPoint:
    at: datetime
    rank: int | None
    """None: off the list at this reading."""
    heat: int | None


@dataclass(frozen=True, slots=True)
class ListCurve:
    """The brand's topic on one hot list: the best-placed one when it has several there."""

    platform: str
    """``weibo-hot`` …"""
    title: str
    """The list as it is called (微博热搜)."""
    topic: str
    post_id: int
    points: tuple[ListPoint, ...]
    """Every reading, oldest first (at least one ranked)."""
    others: int = 0
    """Other topics of the ticket on the same list (each has its own curve on its post)."""

    @property
    def first_listed(self) -> datetime:
        return next(p.at for p in self.points if p.rank is not None)

    @property
    def best_rank(self) -> int:
        return min(p.rank for p in self.points if p.rank is not None)

    @property
    def peak_heat(self) -> int | None:
        return max((p.heat for p in self.points if p.heat is not None), default=None)

    @property
    def left_at(self) -> datetime | None:
        """When it left the list, if its latest reading is off the list."""
        return self.points[-1].at if self.points[-1].rank is None else None


def topic_points(session: Session, post_ids: Sequence[int]) -> dict[int, list[ListPoint]]:
    """Each post's readings as rank and heat, oldest first; only posts with a ranked reading."""
    found: dict[int, list[ListPoint]] = defaultdict(list)
    if post_ids:
        query = select(SnapshotRow).where(SnapshotRow.post_id.in_(post_ids)).order_by(SnapshotRow.at, SnapshotRow.id)
        for snap in session.scalars(query):
            found[snap.post_id].append(ListPoint(snap.at, snap.rank, snap.heat))
    return {post_id: points for post_id, points in found.items() if any(p.rank is not None for p in points)}


def list_curves(session: Session, posts: Sequence[PostRow]) -> list[ListCurve]:
    """One curve per hot list among ``posts`` (the topic placed best on that list, ties to
    the latest), best-placed list first; empty when none is a ranked hot-list topic."""
    topics = [post for post in posts if list_title(post.platform)]
    points = topic_points(session, [post.id for post in topics])
    by_list: dict[str, list[ListCurve]] = defaultdict(list)
    for post in topics:
        if post.id in points:
            by_list[post.platform].append(ListCurve(post.platform, list_title(post.platform), post.title or post.platform_id, post.id, tuple(points[post.id])))
    curves = []
    for found in by_list.values():
        best = min(found, key=lambda c: (c.best_rank, -c.points[-1].at.timestamp()))
        curves.append(ListCurve(best.platform, best.title, best.topic, best.post_id, best.points, len(found) - 1))
    return sorted(curves, key=lambda c: (c.best_rank, c.first_listed))


def ticket_topics(session: Session, ticket_id: int) -> list[PostRow]:
    """Every hot-list topic of a ticket, however many other posts it has, in one query: a
    topic that trends after the first complaints must still be charted in the mail (the
    console's table reads all of a ticket's posts too)."""
    platforms = [f"{key}-hot" for key in LISTS]
    query = (
        select(PostRow)
        .join(TicketPostRow, TicketPostRow.post_id == PostRow.id)
        .where(TicketPostRow.ticket_id == ticket_id, PostRow.platform.in_(platforms))
        .order_by(TicketPostRow.joined_at, PostRow.id)
    )
    return list(session.scalars(query))
