"""Posts stored once per platform id; engagement kept as snapshots, a new one only on change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sources import Post

from .models import PostRow, SnapshotRow
from .scoring import Reading


@dataclass(frozen=True, slots=True)
class Upserted:
    row: PostRow
    new: bool
    grew: bool
    """A new engagement snapshot was taken."""
    edited: bool
    """The text changed since it was stored."""


def upsert_post(session: Session, source: str, post: Post, now: datetime) -> Upserted:
    """Insert or refresh the stored post, and say what changed: a post seen again with the
    same text and counters needs no matching or scoring (most of a feed, every poll)."""
    row = session.scalar(select(PostRow).where(PostRow.platform == post.platform, PostRow.platform_id == post.id))
    new = edited = False
    if row is None:
        new = True
        row = PostRow(
            platform=post.platform,
            platform_id=post.id,
            source=source,
            ref=post.ref,
            url=post.url,
            author=post.author,
            title=post.title,
            text=post.text,
            created_at=post.created_at,
            first_seen_at=now,
            last_seen_at=now,
            matched=False,
            repost_of=post.repost_of,
            author_followers=post.author_followers,
            author_kind=post.author_kind,
        )
        session.add(row)
        session.flush()
    else:
        row.last_seen_at = now
        if post.text and post.text != row.text:
            row.text = post.text  # edited posts are matched on their current text
            edited = True
        if post.ref and row.source == source and row.ref != post.ref:
            row.ref = post.ref
    return Upserted(row, new, _snapshot(session, row, post, now), edited)


def _snapshot(session: Session, row: PostRow, post: Post, now: datetime) -> bool:
    e = post.engagement
    if not e.known:
        return False
    last = session.scalar(select(SnapshotRow).where(SnapshotRow.post_id == row.id).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(1))
    if last is not None and (last.reposts, last.comments, last.likes, last.views) == (e.reposts, e.comments, e.likes, e.views):
        return False
    session.add(SnapshotRow(post_id=row.id, at=now, reposts=e.reposts, comments=e.comments, likes=e.likes, views=e.views))
    session.flush()
    return True


def readings(session: Session, post_id: int) -> list[Reading]:
    rows = session.scalars(select(SnapshotRow).where(SnapshotRow.post_id == post_id).order_by(SnapshotRow.at))
    return [Reading(r.at, r.total) for r in rows]


def latest_snapshot(session: Session, post_id: int) -> SnapshotRow | None:
    return session.scalar(select(SnapshotRow).where(SnapshotRow.post_id == post_id).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(1))
