"""How fast a post spreads, counting its reposts and quotes.

A repost or quote of a post we know is that post's spread, not a complaint of its own
(``MentionRow.spread_of``). The original's engagement velocity is then

    max(the original's own growth, the reposts we saw within the window)
    + the growth of each repost's own engagement within the window.

The larger-of keeps one repost from counting twice where the platform already counts it
in the original's reposts (Weibo ``reposts_count``, Mastodon ``reblogs_count``), while a
source without counters (RSS) still sees a post being passed around.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.detect.scoring import Projection, Reading, project, velocity
from monitor.storage.models import MentionRow, PostRow, SnapshotRow

MAX_REPOSTS = 500
"""Reposts read per evaluation (the most recent): enough to pass any threshold."""


def readings(session: Session, post_id: int) -> list[Reading]:
    """A post's engagement over time, oldest first."""
    rows = session.scalars(select(SnapshotRow).where(SnapshotRow.post_id == post_id).order_by(SnapshotRow.at))
    return [Reading(r.at, r.total) for r in rows]


@dataclass(frozen=True, slots=True)
class Spread:
    velocity: int
    reposts: int
    """Reposts and quotes first seen within the window."""
    projection: Projection | None
    curve: tuple[Reading, ...] = ()
    """The original's own readings, oldest first (what a forecast is made from)."""
    own: int = 0
    """The gain of the original's own counter within the window, without its reposts: the
    velocity the learned chance was fitted on (``monitor.detect.early``)."""


def original_of(session: Session, mention: MentionRow) -> MentionRow:
    """The mention whose spread this one is (itself when it is no repost)."""
    if mention.spread_of is None:
        return mention
    return session.get(MentionRow, mention.spread_of) or mention


Repost = tuple[datetime, int, datetime | None]
"""A repost's mention ``seen_at``, its post's id and ``created_at``."""


def reposts_of(session: Session, original_id: int) -> list[Repost]:
    """The original's reposts and quotes, the most recent ``MAX_REPOSTS``, newest first."""
    rows = session.execute(
        select(MentionRow.seen_at, PostRow.id, PostRow.created_at)
        .join(PostRow, PostRow.id == MentionRow.post_id)
        .where(MentionRow.spread_of == original_id)
        .order_by(MentionRow.id.desc())
        .limit(MAX_REPOSTS)
    ).all()
    return [(seen_at, post_id, created_at) for seen_at, post_id, created_at in rows]


def spread(
    session: Session, original: MentionRow, now: datetime, window: timedelta, curve: Sequence[Reading] | None = None, reposts: Sequence[Repost] | None = None
) -> Spread:
    """The original's velocity with its reposts (see the module's docstring). The
    original's ``curve`` and ``reposts`` are read here unless the caller read them already
    (a batch reads them for all its posts at once)."""
    post = original.post
    curve = readings(session, post.id) if curve is None else curve
    own = velocity(curve, post.created_at, now, window)
    reposts = reposts_of(session, original.id) if reposts is None else reposts
    seen = sum(1 for seen_at, _, _ in reposts if now - window <= seen_at)
    curves: dict[int, list[Reading]] = defaultdict(list)
    ids = [post_id for _, post_id, _ in reposts]
    for start in range(0, len(ids), 250):  # one read for all their curves, not one per repost
        for snap in session.scalars(select(SnapshotRow).where(SnapshotRow.post_id.in_(ids[start : start + 250])).order_by(SnapshotRow.at)):
            curves[snap.post_id].append(Reading(snap.at, snap.total))
    theirs = sum(velocity(curves[post_id], created_at, now, window) for _, post_id, created_at in reposts if post_id in curves)
    return Spread(max(own, seen) + theirs, seen, project(curve, now, window), tuple(curve), own)
