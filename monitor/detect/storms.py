"""Mention storms: a brand's mention volume jumping above its own recent normal.

Per-post velocity misses a crisis made of many small posts. A storm is judged against the
brand's own history, so one setting works for a brand mentioned twice a day and for one
mentioned two thousand times:

- the baseline for "now" is the median count of the same window (``storm_window``,
  ending at the same time of day) on each day of the past ``storm_baseline``: the daily
  rhythm (9 pm is busier than 4 am) is part of normal;
- the spread is the larger of the robust spread of those counts (1.4826 × MAD) and the
  Poisson spread of the brand's average hourly rate (a quiet brand's counts are mostly
  zero, and zero spread would make one extra post a storm);
- a window is a storm when its count passes baseline + ``storm_sensitivity`` × spread and
  is at least ``MIN_STORM`` mentions, and the brand has at least ``MIN_HISTORY`` of
  history (a new install has no normal yet).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.durations import format_duration
from monitor.storage.models import MentionRow, PostRow
from monitor.storage.posts import latest_snapshot

MIN_STORM = 3
MIN_HISTORY = timedelta(days=3)
MAD_SCALE = 1.4826  # MAD → standard deviation for normal data


@dataclass(frozen=True, slots=True)
class Storm:
    scope: str
    """``all`` or a source name."""
    count: int
    baseline: float
    threshold: float

    def reason(self, window: timedelta) -> str:
        where = "" if self.scope == "all" else f" on {self.scope}"
        return (f"mention storm{where}: {self.count} mentions in {format_duration(window)} vs baseline {self.baseline:.1f} "
                f"(threshold {self.threshold:.1f}) → important")


def judge(count: int, same_hour: Sequence[int], hourly_mean: float, sensitivity: float) -> tuple[bool, float, float]:
    """Pure: (is it a storm, baseline, threshold) for a window's ``count``."""
    baseline = statistics.median(same_hour) if same_hour else hourly_mean
    mad = statistics.median(abs(c - baseline) for c in same_hour) * MAD_SCALE if same_hour else 0.0
    spread = max(mad, math.sqrt(max(hourly_mean, baseline, 1 / 24)))
    threshold = baseline + sensitivity * spread
    return count >= max(MIN_STORM, threshold), baseline, threshold


def find_storms(
    session: Session, brand: str, now: datetime, window: timedelta, history: timedelta, sensitivity: float,
) -> list[Storm]:
    """Storms of ``brand`` in the window ending ``now``, overall and per source."""
    first = session.scalar(select(func.min(MentionRow.seen_at)).where(MentionRow.brand == brand))
    if first is None or now - first < MIN_HISTORY:
        return []
    since = now - history
    rows = session.execute(
        select(MentionRow.seen_at, PostRow.source)
        .join(PostRow, PostRow.id == MentionRow.post_id)
        .where(MentionRow.brand == brand, MentionRow.seen_at >= since, MentionRow.seen_at <= now)
    ).all()
    storms = []
    for scope in ["all", *sorted({source for _at, source in rows})]:
        times = [at for at, source in rows if scope == "all" or source == scope]
        storm = _judge_scope(scope, times, now, window, max(first, since), sensitivity)
        if storm is not None:
            storms.append(storm)
    return storms


def _judge_scope(
    scope: str, times: list[datetime], now: datetime, window: timedelta, covered_from: datetime, sensitivity: float,
) -> Storm | None:
    start = now - window
    count = sum(1 for at in times if at > start)
    if count < MIN_STORM:
        return None
    # windows of the same length ending at the same local time on each earlier day
    past = []
    day = timedelta(days=1)
    end = now - day
    while end - window >= covered_from:
        past.append(sum(1 for at in times if end - window < at <= end))
        end -= day
    hours = max(1.0, (start - covered_from).total_seconds() / window.total_seconds())
    mean = sum(1 for at in times if at <= start) / hours
    stormy, baseline, threshold = judge(count, past, mean, sensitivity)
    return Storm(scope, count, baseline, threshold) if stormy else None


def top_posts(session: Session, brand: str, since: datetime, *, source: str | None = None, limit: int = 10) -> list[PostRow]:
    """The storm's posts people will want to read first: its mentions, most engaged first
    (engagement from the latest reading)."""
    query = select(PostRow).join(MentionRow, MentionRow.post_id == PostRow.id).where(MentionRow.brand == brand, MentionRow.seen_at >= since)
    if source is not None:
        query = query.where(PostRow.source == source)
    posts = list(session.scalars(query.order_by(MentionRow.seen_at.desc()).limit(500)))

    def engagement(post: PostRow) -> int:
        snap = latest_snapshot(session, post.id)
        return snap.total if snap else 0

    return sorted(posts, key=engagement, reverse=True)[:limit]

