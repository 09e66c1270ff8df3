"""Keeping the database the same size in a long run: what is pruned, and what never is.

Pruned after ``[monitor].keep``: posts that never mentioned a brand, and engagement
snapshots of posts that are in no ticket. Kept for ever: tickets, their timelines,
their posts and those posts' snapshots, and every mention (mentions are the record of
what was said about the brand). The window must outlast ``track_for`` and
``volume_window``, or scoring would lose its evidence: ``prune`` refuses to cut closer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.storage.db import rows_changed
from monitor.storage.models import MentionRow, PostRow, SnapshotRow, TicketPostRow


@dataclass(frozen=True, slots=True)
class PruneReport:
    posts: int
    snapshots: int


def prune(session: Session, now: datetime, keep: timedelta, floor: timedelta) -> PruneReport:
    """Delete what is older than ``keep`` (never closer than ``floor``); the caller commits."""
    cutoff = now - max(keep, floor)
    in_tickets = select(TicketPostRow.post_id)
    mentioned = select(MentionRow.post_id)
    old_unmatched = select(PostRow.id).where(
        PostRow.matched.is_(False), PostRow.last_seen_at < cutoff, PostRow.id.not_in(in_tickets), PostRow.id.not_in(mentioned)
    )
    snapshots = rows_changed(
        session, delete(SnapshotRow).where(SnapshotRow.at < cutoff, SnapshotRow.post_id.not_in(in_tickets)).execution_options(synchronize_session=False)
    )
    snapshots += rows_changed(session, delete(SnapshotRow).where(SnapshotRow.post_id.in_(old_unmatched)).execution_options(synchronize_session=False))
    posts = rows_changed(session, delete(PostRow).where(PostRow.id.in_(old_unmatched)).execution_options(synchronize_session=False))
    return PruneReport(posts=posts, snapshots=snapshots)
