"""What scoring reads about a post: its mention, its issue's volume, whether a resolved
ticket holds it, its readings, its reposts, and for a new post the recent mentions it may
be a near-copy of.

``Reads`` asks the database each time, one post at a time. ``BatchReads`` reads the same
for a whole batch in a few statements: a stream's drain hands over hundreds of followed
posts whose only change is their counters, and dozens of new ones that each compared
itself with the brand's last 2,000 mentions; reading all this one post at a time was most
of a drain's cost, and grew with the day. Both give the same answers at every step of a
batch: what the batch itself changes while it is scored is read again or kept up to date
(``changed``: a mention stored or moved changes volumes and reposts; ``added``: a new
mention is the newest near-copy candidate; ``taken_back``: a post's storage undone; and a
ticket reopened mid-batch is why ``handled`` is only ruled out for posts that no resolved
ticket held when the batch began, and asked for the others).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from monitor.detect.scoring import Reading
from monitor.detect.spread import MAX_REPOSTS, Repost, readings, reposts_of
from monitor.keys import IssueKind
from monitor.storage.models import MentionRow, PostRow, SnapshotRow, TicketPostRow, TicketRow
from monitor.storage.posts import chunks
from monitor.storage.states import TicketStatus

DUP_CANDIDATES = 2000
"""Recent mentions a new post is compared with for a near-copy (the newest first)."""
CURVE_POSTS = 100
"""Posts whose readings a batch holds at a time: a post followed for hours has one for
every poll it grew in, and a drain hands over hundreds of them."""
NearCopy = tuple[str, str, int]
"""A candidate's fingerprint, issue and post id."""


def _counted(brand: str, since: datetime) -> tuple[ColumnElement[bool], ...]:
    """The brand's mentions that make up an issue's volume since ``since``: reposts are
    the original's spread, not more complaints."""
    return MentionRow.brand == brand, MentionRow.seen_at >= since, MentionRow.spread_of.is_(None)


def _near_copies(brand: str, since: datetime) -> Select[int, str, str, int]:
    """The brand's mentions in near-duplicate issues seen since ``since``, newest first:
    mention id, fingerprint, issue and post id."""
    return (
        select(MentionRow.id, MentionRow.fingerprint, MentionRow.issue_key, MentionRow.post_id)
        .where(MentionRow.brand == brand, MentionRow.issue_key.like(f"{IssueKind.dup}:%"), MentionRow.seen_at >= since)
        .order_by(MentionRow.id.desc())
    )


class Reads:
    """One statement per question: the rule, and what a single post or a re-match uses."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def mention(self, post_id: int, brand: str) -> MentionRow | None:
        return self.session.scalar(select(MentionRow).where(MentionRow.post_id == post_id, MentionRow.brand == brand))

    def volume(self, brand: str, issue_key: str, since: datetime) -> int:
        """Mentions of the issue seen since ``since`` (``_counted``)."""
        return self.session.scalar(select(func.count(MentionRow.id)).where(MentionRow.issue_key == issue_key, *_counted(brand, since))) or 0

    def handled(self, post_id: int, brand: str, issue_key: str) -> bool:
        """Is this post part of a resolved ticket of its issue?"""
        return self.session.scalar(
            select(TicketRow.id)
            .join(TicketPostRow, TicketPostRow.ticket_id == TicketRow.id)
            .where(TicketPostRow.post_id == post_id, TicketRow.status == TicketStatus.resolved, TicketRow.brand == brand, TicketRow.issue_key == issue_key)
            .limit(1)
        ) is not None

    def curve(self, post_id: int) -> list[Reading]:
        return readings(self.session, post_id)

    def near_copies(self, brand: str, since: datetime, post_id: int) -> list[NearCopy]:
        """The brand's mentions in near-duplicate issues seen since ``since`` (not of this
        post), the newest ``DUP_CANDIDATES`` first. Asked once the issue lock is held
        (``lock_issue_grouping``): no other replica adds any until this transaction ends, or
        until the savepoint that took it is rolled back (PostgreSQL releases the lock then:
        ``taken_back``)."""
        rows = self.session.execute(_near_copies(brand, since).where(MentionRow.post_id != post_id).limit(DUP_CANDIDATES))
        return [(fingerprint, issue_key, post) for _, fingerprint, issue_key, post in rows]

    def reposts(self, original_id: int) -> list[Repost]:
        return reposts_of(self.session, original_id)

    def changed(self) -> None:
        """A mention was stored or changed: nothing kept here, nothing to drop."""

    def added(self, mention: MentionRow) -> None:
        """A mention was stored (and flushed: it has its id)."""

    def moved(self, mention: MentionRow) -> None:
        """A stored mention was moved to another issue."""

    def taken_back(self, post_id: int) -> None:
        """A post's storage was undone (``unstore``): nothing kept here, nothing to drop."""


class BatchReads(Reads):
    """The same answers for the posts of one batch, read up front: their mentions,
    whether any resolved ticket holds them and the reposts of their mentions in one
    statement each, each issue's volume once, the near-copy candidates once per brand, and
    their readings ``CURVE_POSTS`` posts at a time, in the order they are scored (see the
    module's docstring)."""

    def __init__(self, session: Session, post_ids: Sequence[int], volume_since: datetime) -> None:
        super().__init__(session)
        self._posts = set(post_ids)
        self._slices = [post_ids[i : i + CURVE_POSTS] for i in range(0, len(post_ids), CURVE_POSTS)]
        self._slice_of = {post_id: n for n, some in enumerate(self._slices) for post_id in some}
        self._scoring = -1
        """The slice of the post being scored (``mention`` is asked first for each, in order)."""
        self._held_slice = -1
        """The slice whose curves ``_curves`` holds: each is read once, when its first post is scored."""
        self._mentions: dict[tuple[int, str], MentionRow] = {}
        self._curves: dict[int, list[Reading]] = {}
        self._held: set[int] = set()
        self._links: list[TicketPostRow] = []
        """Held, so the session keeps them (it holds unchanged rows weakly)."""
        self._volumes: dict[tuple[str, str, datetime], int] = {}
        self._reposts: dict[int, list[Repost]] = {}
        self._near: dict[tuple[str, datetime], list[tuple[int, NearCopy]]] = {}
        """By brand and since: the candidates as read (one more than asked, so one left out
        still leaves enough), with the batch's own new mentions put in front, mention ids first."""
        for chunk in chunks(sorted(self._posts)):
            for m in session.scalars(select(MentionRow).where(MentionRow.post_id.in_(chunk))):
                self._mentions[(m.post_id, m.brand)] = m
            # the posts' ticket links, into the session: joining a post to its open ticket
            # (``IncidentDesk._join``) then finds its link without a statement
            for link, status in session.execute(select(TicketPostRow, TicketRow.status).join(TicketRow, TicketRow.id == TicketPostRow.ticket_id).where(TicketPostRow.post_id.in_(chunk))):
                self._links.append(link)
                if status == TicketStatus.resolved:
                    self._held.add(link.post_id)
        issues: dict[str, set[str]] = defaultdict(set)
        for m in self._mentions.values():
            issues[m.brand].add(m.issue_key)
        for brand, keys in issues.items():
            for some in chunks(sorted(keys)):
                self._volumes.update({(brand, key, volume_since): 0 for key in some})
                for key, count in session.execute(
                    select(MentionRow.issue_key, func.count(MentionRow.id))
                    .where(MentionRow.issue_key.in_(some), *_counted(brand, volume_since))
                    .group_by(MentionRow.issue_key)
                ):
                    self._volumes[(brand, key, volume_since)] = count
        originals = [m.id for m in self._mentions.values()]
        self._reposts = {original: [] for original in originals}
        for chunk in chunks(originals):
            # as ``reposts_of`` reads them: each original's most recent ``MAX_REPOSTS``, newest
            # first, and no more (a post reposted 100,000 times is followed every poll)
            newest = func.row_number().over(partition_by=MentionRow.spread_of, order_by=MentionRow.id.desc()).label("newest")
            ranked = (
                select(MentionRow.spread_of, MentionRow.seen_at, PostRow.id.label("post_id"), PostRow.created_at, newest)
                .join(PostRow, PostRow.id == MentionRow.post_id)
                .where(MentionRow.spread_of.in_(chunk))
                .subquery()
            )
            for original, seen_at, post_id, created_at in session.execute(
                select(ranked.c.spread_of, ranked.c.seen_at, ranked.c.post_id, ranked.c.created_at)
                .where(ranked.c.newest <= MAX_REPOSTS)
                .order_by(ranked.c.spread_of, ranked.c.newest)
            ):
                self._reposts[original or 0].append((seen_at, post_id, created_at))  # never None: ``spread_of IN (…)``

    def mention(self, post_id: int, brand: str) -> MentionRow | None:
        if post_id in self._posts:
            self._scoring = max(self._scoring, self._slice_of[post_id])
            return self._mentions.get((post_id, brand))
        return super().mention(post_id, brand)

    def volume(self, brand: str, issue_key: str, since: datetime) -> int:
        key = (brand, issue_key, since)
        if key not in self._volumes:
            self._volumes[key] = super().volume(brand, issue_key, since)
        return self._volumes[key]

    def handled(self, post_id: int, brand: str, issue_key: str) -> bool:
        if post_id in self._posts and post_id not in self._held:
            return False  # in no resolved ticket when the batch began, and ingesting resolves none
        return super().handled(post_id, brand, issue_key)

    def curve(self, post_id: int) -> list[Reading]:
        # the batch's own readings are stored before any is scored; a post followed for
        # hours has hundreds, so only one slice of the batch's curves is held at a time
        if post_id in self._posts and self._slice_of[post_id] == self._scoring:
            if self._held_slice != self._scoring:
                self._held_slice = self._scoring
                self._curves = self._read_curves(self._slices[self._scoring])
            return self._curves.get(post_id, [])
        return super().curve(post_id)  # taken back, or a repost's original in another slice

    def _read_curves(self, post_ids: Sequence[int]) -> dict[int, list[Reading]]:
        curves: dict[int, list[Reading]] = defaultdict(list)
        snapshots = select(SnapshotRow.post_id, SnapshotRow.at, SnapshotRow.reposts, SnapshotRow.comments, SnapshotRow.likes)
        for post_id, at, reposts, comments, likes in self.session.execute(
            snapshots.where(SnapshotRow.post_id.in_(post_ids)).order_by(SnapshotRow.post_id, SnapshotRow.at, SnapshotRow.id)
        ):
            curves[post_id].append(Reading(at, (reposts or 0) + (comments or 0) + (likes or 0)))  # SnapshotRow.total
        return curves

    def reposts(self, original_id: int) -> list[Repost]:
        if original_id not in self._reposts:
            self._reposts[original_id] = super().reposts(original_id)
        return self._reposts[original_id]

    def near_copies(self, brand: str, since: datetime, post_id: int) -> list[NearCopy]:
        key = (brand, since)
        if key not in self._near:
            rows = self.session.execute(_near_copies(brand, since).limit(DUP_CANDIDATES + 1))
            self._near[key] = [(mention_id, (fingerprint, issue_key, post)) for mention_id, fingerprint, issue_key, post in rows]
        return [near for _, near in self._near[key] if near[2] != post_id][:DUP_CANDIDATES]

    def changed(self) -> None:
        """A mention was stored or changed: volumes and reposts are read again when asked."""
        self._volumes.clear()
        self._reposts.clear()

    def added(self, mention: MentionRow) -> None:
        """A new mention of a near-duplicate issue is the newest candidate for the posts after it."""
        for (brand, since), near in self._near.items():
            if brand == mention.brand and mention.issue_key.startswith(f"{IssueKind.dup}:") and mention.seen_at >= since:
                near.insert(0, (mention.id, (mention.fingerprint, mention.issue_key, mention.post_id)))
                del near[DUP_CANDIDATES + 1 :]

    def moved(self, mention: MentionRow) -> None:
        """A mention edited into a category may have left a near-duplicate issue: the
        candidates are read again (an older one may now be among the newest 2,000)."""
        self._near.clear()

    def taken_back(self, post_id: int) -> None:
        """A post's storage was undone: what was read about it is asked again (a repost of
        it later in the batch must not see the reading taken back)."""
        self._posts.discard(post_id)
        self._near.clear()  # its new mention went with it, and the issue lock if it took it
        self.changed()
