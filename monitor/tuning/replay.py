"""Replay: what a (candidate) config would have raised over stored history, and how that
differs from what the live config did raise. Nothing is sent.

Stored posts are fed again, in time order, through the real pipeline in a sandbox: each
post at its first sighting and again at every engagement reading, so velocity, volume and
issue grouping see what the daemon saw when it saw it.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.detect.matching import TokenizerFactory
from monitor.storage.models import PostRow, SnapshotRow, TicketRow
from monitor.tuning.evaluate import Sandbox
from monitor.tuning.tryout import Deadline
from sources import Engagement, Post


@dataclass(frozen=True, slots=True)
class Raised:
    brand: str
    issue: str
    severity: str
    opened_at: datetime
    title: str


@dataclass(frozen=True, slots=True)
class Difference:
    """Per issue: what the live config raised and what the candidate would have."""

    brand: str
    issue: str
    live: Raised | None
    candidate: Raised | None

    @property
    def change(self) -> str:
        if self.live is None:
            return "new"
        if self.candidate is None:
            return "gone"
        return "same" if self.live.severity == self.candidate.severity else "severity"


def _readings(session: Session, since: datetime, until: datetime) -> tuple[list[PostRow], dict[int, list[SnapshotRow]]]:
    posts = list(session.scalars(select(PostRow).where(PostRow.first_seen_at >= since, PostRow.first_seen_at <= until).order_by(PostRow.first_seen_at)))
    snaps: dict[int, list[SnapshotRow]] = defaultdict(list)
    ids = [p.id for p in posts]
    for start in range(0, len(ids), 500):
        for snap in session.scalars(select(SnapshotRow).where(SnapshotRow.post_id.in_(ids[start : start + 500])).order_by(SnapshotRow.at)):
            snaps[snap.post_id].append(snap)
    return posts, snaps


def replay(
    session: Session, config: Config, since: datetime, until: datetime, tokenizers: TokenizerFactory | None = None, *, deadline: Deadline | None = None
) -> list[Difference]:
    """Re-score the posts first seen in [since, until] with ``config``; compare per issue.
    ``TimeLimit`` (with the number of posts fed) when ``deadline`` passes first."""
    posts, snaps = _readings(session, since, until)
    moments: dict[datetime, list[Post]] = defaultdict(list)
    for row in posts:
        readings = snaps.get(row.id) or []
        times = sorted({row.first_seen_at, *(s.at for s in readings if s.at <= until)})
        for at in times:
            latest = next((s for s in reversed(readings) if s.at <= at), None)
            engagement = Engagement(latest.reposts, latest.comments, latest.likes, latest.views, latest.rank, latest.heat) if latest else Engagement()
            moments[at].append(Post(row.platform, row.platform_id, row.url, row.text, author=row.author, title=row.title, created_at=row.created_at, engagement=engagement))
    with tempfile.TemporaryDirectory() as folder:
        box = Sandbox(config, tokenizers or TokenizerFactory(), Path(folder), since)
        try:
            fed = 0
            for at in sorted(moments):
                if deadline is not None:
                    deadline.check(fed)
                box.now = at
                box.pipeline.ingest("replay", moments[at])
                fed += len(moments[at])
            with box.sessions() as sandbox:
                candidate = _raised(sandbox, since, until)
        finally:
            box.close()
    live = _raised(session, since, until)
    keys = sorted(set(live) | set(candidate))
    return [Difference(brand, issue, live.get((brand, issue)), candidate.get((brand, issue))) for brand, issue in keys]


def _raised(session: Session, since: datetime, until: datetime) -> dict[tuple[str, str], Raised]:
    """The highest ticket per issue opened in the period (brand tickets only)."""
    found: dict[tuple[str, str], Raised] = {}
    rank = {"normal": 1, "important": 2, "urgent": 3}
    rows = session.scalars(select(TicketRow).where(TicketRow.opened_at >= since, TicketRow.opened_at <= until, TicketRow.brand != "monitor").order_by(TicketRow.opened_at))
    for t in rows:
        key = (t.brand, t.issue_key)
        if key not in found or rank.get(t.severity, 0) > rank.get(found[key].severity, 0):
            found[key] = Raised(t.brand, t.issue_key, t.severity, found[key].opened_at if key in found else t.opened_at, t.title)
    return found


@dataclass(frozen=True, slots=True)
class Would:
    """A ticket a config would raise from a file of posts."""

    brand: str
    issue: str
    severity: str
    opened_at: datetime
    title: str
    posts: int
    reasons: tuple[str, ...]


def replay_posts(config: Config, moments: dict[datetime, list[tuple[str, Post]]], tokenizers: TokenizerFactory | None = None) -> list[Would]:
    """Score the posts of a file (``postfile.load_posts``) with ``config`` in a sandbox, in
    time order, and list the tickets it would raise, oldest first. The live database is
    never opened."""
    if not moments:
        return []
    with tempfile.TemporaryDirectory() as folder:
        box = Sandbox(config, tokenizers or TokenizerFactory(), Path(folder), min(moments))
        try:
            for at in sorted(moments):
                box.now = at
                by_source: dict[str, list[Post]] = defaultdict(list)
                for source, post in moments[at]:
                    by_source[source].append(post)
                for source, posts in by_source.items():
                    box.pipeline.ingest(source, posts)
            with box.sessions() as sandbox:
                rows = sandbox.scalars(select(TicketRow).where(TicketRow.brand != "monitor").order_by(TicketRow.opened_at, TicketRow.id)).all()
                return [Would(t.brand, t.issue_key, t.severity, t.opened_at, t.title, len(t.posts), tuple(t.reasons or ())) for t in rows]
        finally:
            box.close()
