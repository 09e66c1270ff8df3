"""The memory of past cases: how the same problem was solved last time, and how long it took.

The playbooks say most complaints are solved with a known answer from an earlier case, so
a new ticket is linked to the resolved tickets most like it, and resolution notes are
searchable (``monitor cases search "漏水"``).

"Alike" means what issue grouping means: the same brand, and texts that grouping would
put in one issue, i.e. near-duplicates (``monitor.detect.fingerprint``), or, within a crisis
category both tickets share, complaints ``monitor.detect.clusters`` calls the same. A shared
category alone is not alike: a kettle on fire and a scalding thermos are both ``safety``
and two different cases. There is deliberately no second, fuzzier similarity here: a case
the grouping would call "a different problem" is not offered as "the same problem,
solved before" either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from monitor.detect.clusters import JOIN, Candidate, similarity
from monitor.detect.fingerprint import PREFILTER_BITS, distance, same_issue, simhash, to_hex
from monitor.keys import one_complaint
from monitor.storage.models import MentionRow, PostRow, TicketPostRow, TicketRow
from monitor.storage.states import TicketStatus

CANDIDATES = 500
"""Resolved tickets of the brand looked at, newest first: bounds the work done when a
ticket opens, whatever the age of the database."""
POSTS_PER_CASE = 3
"""The first posts of a ticket that stand for its text (besides its title): the posts
that raised it, not the hundreds of reposts that joined later."""


@dataclass(frozen=True, slots=True)
class SimilarCase:
    """A resolved ticket like another one, with what was done about it."""

    ticket_id: int
    title: str
    resolution: str
    """The resolve note (empty for tickets resolved before notes were required)."""
    resolved_at: datetime
    took: timedelta
    """From opening to resolution (for a reopened ticket, from its first opening)."""
    score: float
    """How surely it is the same complaint, ``clusters.JOIN`` (0.5) to 1: 1 for a
    near-copy (or the very issue), else the ``clusters.similarity`` of their posts within
    a crisis category both share."""
    categories: tuple[str, ...]
    near_duplicate: bool = False
    """Whether its text is a near-copy of the ticket's (else the same complaint reworded)."""
    brand: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times ISO 8601 with offset, durations in seconds)."""
        return {
            "id": self.ticket_id,
            "brand": self.brand,
            "title": self.title,
            "categories": list(self.categories),
            "resolution": self.resolution,
            "resolved_at": self.resolved_at.isoformat(),
            "took_seconds": int(self.took.total_seconds()),
            "score": self.score,
            "near_duplicate": self.near_duplicate,
        }


@dataclass(frozen=True, slots=True)
class FoundCase:
    """A resolved ticket that ``search_cases`` found, and where the text was found."""

    ticket_id: int
    brand: str
    title: str
    resolution: str
    opened_at: datetime
    resolved_at: datetime
    took: timedelta
    categories: tuple[str, ...]
    matched: tuple[str, ...]
    """Where the text occurs: some of "resolution", "title", "posts"."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times ISO 8601 with offset, durations in seconds)."""
        return {
            "id": self.ticket_id,
            "brand": self.brand,
            "title": self.title,
            "categories": list(self.categories),
            "resolution": self.resolution,
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat(),
            "took_seconds": int(self.took.total_seconds()),
            "matched": list(self.matched),
        }


# -- similar cases -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    fingerprint: str | None
    """The SimHash stored with the post's mention; ``None`` for a title (short texts are
    compared in full: cheaper than hashing them)."""
    words: tuple[str, ...] | None = None
    """The content words stored with the mention (``None`` for a title, or a mention
    stored before they were: such a post is compared as a near-duplicate only)."""
    terms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Crisis terms found, by category, as the mention stored them."""


def similar_cases(session: Session, ticket: TicketRow, limit: int = 3) -> list[SimilarCase]:
    """The resolved tickets of ``ticket``'s brand most like it, best first (ties: more
    categories in common, then the most recently resolved). A case counts when issue
    grouping would put the two together: its title or first posts are near-duplicates of
    this ticket's (``fingerprint.same_issue``, after the SimHash prefilter the mentions
    already store), or, in a crisis category both have, their first posts are one
    complaint by ``clusters.similarity`` (at least ``clusters.JOIN``). A shared category
    alone is never enough, however recent the case. Only the ``CANDIDATES`` most recently
    resolved tickets are read."""
    if limit <= 0:
        return []
    candidates = session.execute(
        select(TicketRow.id, TicketRow.brand, TicketRow.issue_key, TicketRow.title, TicketRow.resolution, TicketRow.categories, TicketRow.opened_at, TicketRow.resolved_at)
        .where(TicketRow.brand == ticket.brand, TicketRow.status == TicketStatus.resolved, TicketRow.resolved_at.is_not(None), TicketRow.id != ticket.id)
        .order_by(TicketRow.resolved_at.desc(), TicketRow.id.desc())
        .limit(CANDIDATES)
    ).all()
    if not candidates:
        return []
    ids = [c.id for c in candidates]
    posts = _first_posts(session, [ticket.id, *ids], ticket.brand)
    mine_title = _Text(ticket.title or "", None)
    mine_posts = posts.get(ticket.id, [])
    mine_categories = set(ticket.categories or ())
    # an issue of near-duplicates, or one complaint's cluster in a category (cat:<category>:<id>):
    # an earlier ticket of that very issue is the same case coming back
    key = ticket.issue_key or ""
    dup_key = key if one_complaint(key) else None
    found: list[tuple[SimilarCase, float]] = []
    for c in candidates:
        theirs = posts.get(c.id, [])
        near = (dup_key is not None and c.issue_key == dup_key) or _near_duplicate(mine_title, mine_posts, _Text(c.title or "", None), theirs)
        shared = [name for name in ticket.categories or () if name in set(c.categories or ())]
        score = 1.0 if near else _same_complaint(mine_posts, theirs, shared)
        if score < JOIN:
            continue
        found.append((
            SimilarCase(
                ticket_id=c.id,
                title=c.title,
                resolution=c.resolution or "",
                resolved_at=c.resolved_at,
                took=c.resolved_at - c.opened_at,
                score=score,
                categories=tuple(c.categories or ()),
                near_duplicate=near,
                brand=c.brand,
            ),
            _jaccard(mine_categories, set(c.categories or ())),
        ))
    # candidates are newest first and the sort is stable: equal ranks stay newest first
    found.sort(key=lambda pair: (-pair[0].score, -pair[1]))
    return [case for case, _shared in found[:limit]]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _same_complaint(mine: Sequence[_Text], theirs: Sequence[_Text], categories: Sequence[str]) -> float:
    """The highest ``clusters.similarity`` of two posts, one of each ticket, within one of
    the crisis categories both tickets have (0 when they share none): what decides whether
    issue grouping puts a mention into a category's complaint."""
    best = 0.0
    for category in categories:
        for a in mine:
            if a.words is None:
                continue
            a_terms = frozenset(a.terms.get(category, ()))
            for b in theirs:
                if b.words is None:
                    continue
                best = max(best, similarity(a.text, a.words, a_terms, Candidate("", b.text, b.words, frozenset(b.terms.get(category, ())))))
                if best >= 1.0:
                    return best
    return round(best, 4)


def _first_posts(session: Session, ticket_ids: Sequence[int], brand: str) -> dict[int, list[_Text]]:
    """Each ticket's first ``POSTS_PER_CASE`` posts (by joining time), with the SimHash,
    content words and crisis terms its mention stored, in one query whatever the number of
    tickets or of their posts."""
    rank = func.row_number().over(partition_by=TicketPostRow.ticket_id, order_by=(TicketPostRow.joined_at, TicketPostRow.post_id))
    ranked = select(TicketPostRow.ticket_id, TicketPostRow.post_id, rank.label("rank")).where(TicketPostRow.ticket_id.in_(ticket_ids)).subquery()
    rows = session.execute(
        select(ranked.c.ticket_id, PostRow.text, MentionRow.fingerprint, MentionRow.tokens, MentionRow.terms)
        .join(PostRow, PostRow.id == ranked.c.post_id)
        .outerjoin(MentionRow, and_(MentionRow.post_id == PostRow.id, MentionRow.brand == brand))
        .where(ranked.c.rank <= POSTS_PER_CASE)
        .order_by(ranked.c.ticket_id, ranked.c.rank)
    )
    texts: dict[int, list[_Text]] = defaultdict(list)
    for ticket_id, text, fingerprint, tokens, terms in rows:
        # a post without a mention of this brand (rare): hash it here, as the pipeline would have
        texts[ticket_id].append(_Text(text or "", fingerprint or to_hex(simhash(text or "")), None if tokens is None else tuple(tokens), terms or {}))
    return texts


def _near_duplicate(mine_title: _Text, mine: Iterable[_Text], their_title: _Text, theirs: Sequence[_Text]) -> bool:
    """Title against title, post against post: the comparisons issue grouping makes.
    Posts pass the SimHash prefilter before the (costlier) bigram comparison."""
    if mine_title.text and their_title.text and same_issue(mine_title.text, their_title.text):
        return True
    for a in mine:
        for b in theirs:
            assert a.fingerprint is not None and b.fingerprint is not None
            if distance(a.fingerprint, b.fingerprint) <= PREFILTER_BITS and same_issue(a.text, b.text):
                return True
    return False


# -- search --------------------------------------------------------------------------------


def search_cases(session: Session, text: str, limit: int = 20, *, brand: str | None = None) -> list[FoundCase]:
    """Resolved tickets whose resolution note, title or posts contain ``text``, most
    recently resolved first. A plain substring (``%`` and ``_`` are literal), so Chinese
    needs no segmentation; case-insensitive where the database can fold the case (ASCII
    on SQLite, all of Unicode on PostgreSQL). Raises ``ValueError`` for an empty text:
    it would list every case, which is ``tickets list``'s job."""
    needle = text.strip()
    if not needle:
        raise ValueError("the search text is empty / 搜索内容为空")
    if limit <= 0:
        return []
    in_resolution = TicketRow.resolution.icontains(needle, autoescape=True)
    in_title = TicketRow.title.icontains(needle, autoescape=True)
    in_posts = exists().where(
        TicketPostRow.ticket_id == TicketRow.id,
        PostRow.id == TicketPostRow.post_id,
        or_(PostRow.text.icontains(needle, autoescape=True), PostRow.title.icontains(needle, autoescape=True)),
    )
    query = (
        select(
            TicketRow.id, TicketRow.brand, TicketRow.title, TicketRow.resolution, TicketRow.categories, TicketRow.opened_at, TicketRow.resolved_at,
            in_resolution.label("in_resolution"), in_title.label("in_title"), in_posts.label("in_posts"),
        )
        .where(TicketRow.status == TicketStatus.resolved, TicketRow.resolved_at.is_not(None), or_(in_resolution, in_title, in_posts))
        .order_by(TicketRow.resolved_at.desc(), TicketRow.id.desc())
        .limit(limit)
    )
    if brand is not None:
        query = query.where(TicketRow.brand == brand)
    return [
        FoundCase(
            ticket_id=r.id,
            brand=r.brand,
            title=r.title,
            resolution=r.resolution or "",
            opened_at=r.opened_at,
            resolved_at=r.resolved_at,
            took=r.resolved_at - r.opened_at,
            categories=tuple(r.categories or ()),
            matched=tuple(name for name, hit in (("resolution", r.in_resolution), ("title", r.in_title), ("posts", r.in_posts)) if hit),
        )
        for r in session.execute(query)
    ]
