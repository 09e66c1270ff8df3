"""Which tracked posts to re-read now: engagement growth is only seen if we look again.

A post is tracked while it is a mention and younger than ``track_for``, or while the
ticket it belongs to awaits its follow-up. Posts still
growing are re-read every poll; a post that has not changed for a while is re-read
less often (a quarter of its quiet time, at most hourly), so a source's re-read
budget goes to the posts that may be going viral.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.storage.models import PostRow, SnapshotRow, TicketPostRow, TicketRow
from monitor.storage.states import TicketStatus

MAX_QUIET_INTERVAL = timedelta(hours=1)


def reread_due(last_seen: datetime, last_change: datetime, now: datetime) -> bool:
    """Pure: whether a post last read at ``last_seen`` and last grown at ``last_change`` is due."""
    quiet = max(timedelta(0), now - last_change)
    return now - last_seen >= min(quiet / 4, MAX_QUIET_INTERVAL)


def refs_to_reread(session: Session, source: str, batch: int, skip_ids: Collection[str], now: datetime, track_for: timedelta) -> list[str]:
    """Up to ``batch`` refs of this source's tracked posts that are due, least recently read first."""
    if batch <= 0:
        return []
    # every tracked post is considered (the set is bounded by track_for): a LIMIT before the
    # "is it due" test would let many quiet posts crowd out the one that is growing
    last_change = select(SnapshotRow.post_id, func.max(SnapshotRow.at).label("at")).group_by(SnapshotRow.post_id).subquery()
    # a resolved case's posts are watched until its follow-up: a flare-up must be seen
    in_follow_up = select(TicketPostRow.post_id).join(TicketRow, TicketRow.id == TicketPostRow.ticket_id).where(TicketRow.status == TicketStatus.resolved, TicketRow.follow_up_at.is_not(None))
    rows = session.execute(
        select(PostRow.ref, PostRow.platform_id, PostRow.last_seen_at, PostRow.first_seen_at, last_change.c.at)
        .outerjoin(last_change, last_change.c.post_id == PostRow.id)
        .where(
            PostRow.source == source,
            PostRow.matched.is_(True),
            PostRow.ref != "",
            or_(PostRow.first_seen_at >= now - track_for, PostRow.id.in_(in_follow_up)),
        )
        .order_by(PostRow.last_seen_at)
    ).all()
    due = [
        ref
        for ref, platform_id, last_seen, first_seen, changed in rows
        if platform_id not in skip_ids and reread_due(last_seen, changed or first_seen, now)
    ]
    return due[:batch]
