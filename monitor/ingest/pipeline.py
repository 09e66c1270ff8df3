"""The stages composed: store → match → score → incident. Nothing else lives here.

Ingesting the same batch twice changes nothing: a post is stored once, a snapshot only
when a counter moved, a mention once per brand, and a mention is only re-scored when
there is something new to score (new mention, new crisis terms, or new engagement).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.clock import Clock
from monitor.config import Config
from monitor.detect.clusters import Candidate, best_issue, content_words, strip_links
from monitor.detect.early import chance
from monitor.detect.fingerprint import PREFILTER_BITS, distance, same_issue, simhash, to_hex
from monitor.detect.forecast import outlook
from monitor.detect.matching import Matcher, Mention
from monitor.detect.scoring import MIN_SHARE, Author, Baseline, Evidence, Outlook, Sighting, assess
from monitor.detect.spread import Spread, original_of, spread
from monitor.detect.textnorm import normalize
from monitor.ingest.reads import BatchReads, Reads
from monitor.keys import category_issue, category_of, category_prefix, dup_issue, hotlist_issue
from monitor.storage.db import Writer, lock_issue_grouping
from monitor.storage.models import MentionRow, PostRow, SnapshotRow
from monitor.storage.posts import Stored, Upserted, chunks, store_batch, unstore, upsert_post
from monitor.tickets.desk import IncidentDesk
from sources import Post
from sources.hotlist import list_title

log = logging.getLogger("monitor.pipeline")
DUP_TEXTS = 25
"""Near-duplicate candidates whose texts are read at a time (most posts stop at the first few)."""
CLUSTER_CANDIDATES = 2000


@dataclass
class IngestReport:
    posts: int = 0
    new_posts: int = 0
    mentions: int = 0
    tickets: set[int] = field(default_factory=set)


def _distinct(posts: Sequence[Post]) -> tuple[list[Post], list[Post]]:
    """The first post of each (platform, id) in batch order, and the repeats."""
    seen: set[tuple[str, str]] = set()
    first: list[Post] = []
    repeats: list[Post] = []
    for post in posts:
        key = (post.platform, post.id)
        (repeats if key in seen else first).append(post)
        seen.add(key)
    return first, repeats


class Pipeline:
    def __init__(self, writer: Writer, config: Config, matcher: Matcher, desk: IncidentDesk, clock: Clock, *, batch_reads: bool = True) -> None:
        self.writer = writer  # one writer at a time: SQLite allows no more, and issue look-ups must not race
        self.config = config
        self.matcher = matcher
        self.desk = desk
        self.clock = clock
        self._reported: set[tuple[str, str]] = set()
        self.batch_reads = batch_reads
        """What scoring reads about a batch (mentions, readings, tickets, volumes, reposts,
        near-copy candidates) is read for the whole batch (``BatchReads``); False reads it
        one post at a time, as before: the reference the equivalence tests and
        bench/reingest.py compare against."""
        # a brand's own names, left out of the words clustering compares; normalised once
        # (with 2,000 keywords, doing it per mention was most of the ingest's time)
        self._names = {b.name: frozenset(n.casefold() for n in (b.name, *(normalize(k).strip() for k in b.keywords))) for b in config.brands}

    def ingest(self, source: str, posts: Sequence[Post], *, first_poll: bool = False) -> IngestReport:
        """Store, match and score a batch. On a source's ``first_poll``, undated posts are
        history: stored and counted, never alerted on (a new feed's backlog pages nobody)."""
        report = IngestReport()
        if not posts:
            return report  # an unchanged feed: no transaction at all
        batch, repeats = _distinct(posts)
        with self.writer.session() as session:
            now = self.clock()
            # the batch stored in a few statements; only posts with something new to match
            # (new, edited, grown) are matched, and only those naming a brand are loaded as rows
            stored, failed = store_batch(session, source, batch, now)
            # what the batch insert refused, and repeats within the batch, are stored one at a
            # time now, before any issue is decided: on PostgreSQL that decision holds a lock
            # (db.lock_issue_grouping) under which no insert may wait on another replica
            singles = self._store_singles(session, source, failed + repeats, now)
            todo: list[tuple[Stored, list[Mention]]] = []
            for item in stored:
                report.posts += 1
                report.new_posts += item.new
                if item.new or item.edited or item.grew:
                    # a post seen again with the same text and counters has nothing new to match or
                    # score: most of a feed, every poll (a config reload re-matches recent posts itself)
                    try:
                        found = self.matcher.match(item.text)
                    except Exception as exc:  # one post the matcher chokes on must not lose the poll
                        self._take_back(session, source, item, now, report, exc)
                        continue
                    if found:
                        todo.append((item, found))
            # one read of their rows, held here: the session's identity map holds unchanged rows
            # weakly, so rows read and dropped were read again one at a time
            ids = [item.id for item, _ in todo]
            rows = {row.id: row for chunk in chunks(ids) for row in session.scalars(select(PostRow).where(PostRow.id.in_(chunk)))}
            # most of a stream's drain is followed posts whose counters moved: what scoring
            # reads about them (mention, readings, volume, tickets) is read for all at once
            reads = BatchReads(session, ids, now - self.config.scoring.volume_window) if self.batch_reads and todo else Reads(session)
            for item, found in todo:
                try:
                    with session.begin_nested():
                        row = rows[item.id]
                        history = first_poll and item.post.created_at is None
                        self._match(session, row, now, reads, grew=item.grew, report=report, history=history, mentions=found)
                except Exception as exc:  # one bad record must not lose the rest of the batch
                    self._take_back(session, source, item, now, report, exc)
                    reads.taken_back(item.id)
            for post, single in singles:
                report.posts += 1
                report.new_posts += single.new
                if single.new or single.edited or single.grew:
                    try:
                        with session.begin_nested():
                            self._match(session, single.row, now, Reads(session), grew=single.grew, report=report, history=first_poll and post.created_at is None)
                    except Exception as exc:
                        self._report_bad(source, post, exc)
            session.commit()
        return report

    def _store_singles(self, session: Session, source: str, posts: Sequence[Post], now: datetime) -> list[tuple[Post, Upserted]]:
        stored = []
        for post in posts:
            try:
                with session.begin_nested():
                    stored.append((post, upsert_post(session, source, post, now)))
            except Exception as exc:
                self._report_bad(source, post, exc)
        return stored

    def _take_back(self, session: Session, source: str, item: Stored, now: datetime, report: IngestReport, exc: Exception) -> None:
        """Undo a post's storage so the next poll tries it again, and say so once."""
        unstore(session, item, now)
        report.posts -= 1
        report.new_posts -= item.new
        self._report_bad(source, item.post, exc)

    def _report_bad(self, source: str, post: Post, exc: Exception) -> None:
        """One line per bad post, once (it comes back every poll); the traceback at debug."""
        key = (source, post.id)
        if key not in self._reported:
            if len(self._reported) > 10_000:
                self._reported.clear()
            self._reported.add(key)
            log.error("source %s: post %s could not be stored, skipped: %s: %s", source, post.url or post.id, exc.__class__.__name__, exc)
        log.debug("store failure for %s", post.id, exc_info=exc)

    def rematch_recent(self) -> IngestReport:
        """Apply the current keywords and terms to posts fetched within ``track_for``."""
        report = IngestReport()
        with self.writer.session() as session:
            now = self.clock()
            since = now - self.config.scoring.track_for
            reads = Reads(session)
            for row in session.scalars(select(PostRow).where(PostRow.first_seen_at >= since).order_by(PostRow.id)):
                with session.begin_nested():
                    self._match(session, row, now, reads, grew=False, report=report)
            session.commit()
        return report

    def _match(
        self, session: Session, row: PostRow, now: datetime, reads: Reads, *, grew: bool, report: IngestReport, history: bool = False, mentions: list[Mention] | None = None
    ) -> None:
        for found in self.matcher.match(row.text) if mentions is None else mentions:
            if not row.matched:  # set only when it changes: a set attribute costs a flush before the next read
                row.matched = True
            mention, changed = self._upsert_mention(session, row, found, now, reads, history)
            if changed:
                reads.changed()  # a new mention, or one moved to another issue: volumes and reposts move
            report.mentions += 1
            if changed or grew:
                ticket = self._evaluate(session, mention, row, now, reads)
                if ticket is not None:
                    report.tickets.add(ticket.id)

    def _upsert_mention(self, session: Session, row: PostRow, found: Mention, now: datetime, reads: Reads, history: bool = False) -> tuple[MentionRow, bool]:
        mention = reads.mention(row.id, found.brand)
        terms = {name: list(words) for name, words in found.terms}
        if mention is not None:
            if mention.terms == terms:
                return mention, False
            mention.categories = list(found.categories)
            mention.terms = terms
            if found.categories and mention.spread_of is None and category_of(mention.issue_key) != found.categories[0]:
                # edited (or a reloaded lexicon) into another category: find its issue there
                lock_issue_grouping(session)
                words = mention.tokens if mention.tokens is not None else self._words(found.brand, row.text)
                mention.issue_key = self._category_issue(session, found.brand, found.categories[0], terms, row, words, now)
                reads.moved(mention)
            return mention, True
        lock_issue_grouping(session)  # replicas racing on one complaint must find one issue
        fingerprint = to_hex(simhash(row.text))
        seen_at = row.first_seen_at if row.created_at is None else min(row.created_at, row.first_seen_at)
        if history:  # age unknown, found in a backlog: older than anything we alert on or count
            seen_at = row.first_seen_at - self.config.scoring.track_for - timedelta(seconds=1)
        words = self._words(found.brand, row.text)
        original = self._original(session, found.brand, row) if row.repost_of else None
        if original is not None and not set(found.categories) <= set(original.categories or ()):
            # the reposter's own words bring a complaint the original does not have ("杯子烫伤了
            #孩子 //转发: <a launch post>"): a complaint of its own, clustered like any other
            original = None
        if original is not None:  # a repost or quote: the original's spread, not a new complaint
            issue_key = original.issue_key
        elif found.categories:
            issue_key = self._category_issue(session, found.brand, found.categories[0], terms, row, words, now)
        elif list_title(row.platform):  # the brand trending: one issue whichever lists and topics
            issue_key = hotlist_issue()
        else:
            issue_key = self._near_duplicate_issue(session, found.brand, row, fingerprint, now, reads) or dup_issue(fingerprint)
        mention = MentionRow(
            post_id=row.id, brand=found.brand, categories=list(found.categories), terms=terms, issue_key=issue_key, fingerprint=fingerprint, seen_at=seen_at,
            tokens=words, spread_of=None if original is None else original.id,
        )
        mention.post = row
        session.add(mention)
        session.flush()
        reads.added(mention)
        return mention, True

    def _words(self, brand: str, text: str) -> list[str]:
        """The content words clustering compares (the brand's own names left out)."""
        return content_words(self.matcher.words(strip_links(text)), self._names.get(brand, frozenset({brand.casefold()})))

    def _category_issue(self, session: Session, brand: str, category: str, terms: dict[str, list[str]], row: PostRow, words: list[str], now: datetime) -> str:
        """The issue of the most similar recent complaint of this brand and category
        (``clusters``), or a new issue that this post starts."""
        scoring, tickets = self.config.scoring, self.config.tickets
        since = now - max(scoring.volume_window, scoring.track_for, tickets.reopen_within)
        rows = session.execute(
            select(MentionRow.issue_key, MentionRow.tokens, MentionRow.terms, PostRow.text)
            .join(PostRow, PostRow.id == MentionRow.post_id)
            .where(
                MentionRow.brand == brand,
                or_(MentionRow.issue_key == category_prefix(category), MentionRow.issue_key.startswith(f"{category_prefix(category)}:", autoescape=True)),
                MentionRow.seen_at >= since,
                MentionRow.spread_of.is_(None),
                PostRow.id != row.id,
            )
            .order_by(MentionRow.id.desc())
            .limit(CLUSTER_CANDIDATES)
        ).all()
        candidates = (
            Candidate(key, text, other if other is not None else self._words(brand, text), frozenset((other_terms or {}).get(category, ())))
            for key, other, other_terms, text in rows
        )
        found = best_issue(row.text, words, frozenset(terms.get(category, ())), candidates)
        return found or category_issue(category, row.platform, row.platform_id)

    def _original(self, session: Session, brand: str, row: PostRow) -> MentionRow | None:
        """The mention of the post this one reposts or quotes; when we never saw that
        original, the first repost of it we saw stands in for it."""
        found = session.scalar(
            select(MentionRow)
            .join(PostRow, PostRow.id == MentionRow.post_id)
            .where(PostRow.platform == row.platform, PostRow.platform_id == row.repost_of, MentionRow.brand == brand)
        )
        if found is None:
            found = session.scalar(
                select(MentionRow)
                .join(PostRow, PostRow.id == MentionRow.post_id)
                .where(PostRow.platform == row.platform, PostRow.repost_of == row.repost_of, PostRow.id != row.id, MentionRow.brand == brand, MentionRow.spread_of.is_(None))
                .order_by(MentionRow.id)
                .limit(1)
            )
        if found is not None and found.spread_of is not None:  # a repost of a repost: the root
            found = session.get(MentionRow, found.spread_of) or found
        return found

    def _near_duplicate_issue(self, session: Session, brand: str, row: PostRow, fingerprint: str, now: datetime, reads: Reads) -> str | None:
        """The issue of a recent mention whose text is a near-copy of this one, if any: the
        newest candidate the fingerprint lets through whose text is the same issue. Texts
        are read only for those, a few at a time (most posts stop at one of the first)."""
        candidates = reads.near_copies(brand, now - self.config.scoring.volume_window, row.id)
        close = [(issue_key, post_id) for other, issue_key, post_id in candidates if distance(other, fingerprint) <= PREFILTER_BITS]
        for start in range(0, len(close), DUP_TEXTS):
            some = close[start : start + DUP_TEXTS]
            texts = {post_id: text for post_id, text in session.execute(select(PostRow.id, PostRow.text).where(PostRow.id.in_([post_id for _, post_id in some])))}
            for issue_key, post_id in some:
                if post_id in texts and same_issue(row.text, texts[post_id]):
                    return issue_key
        return None

    def _outlook(self, grown: Spread, original: MentionRow, now: datetime) -> Outlook | None:
        """The forecast of the original's own counter, made only where the forecast rule
        could fire (between MIN_SHARE of velocity_urgent and velocity_important)."""
        scoring = self.config.scoring
        if not MIN_SHARE * scoring.velocity_urgent <= grown.velocity < scoring.velocity_important:
            return None
        return outlook(grown.curve, original.post.created_at, now, scoring.velocity_window, scoring.velocity_urgent, confidence=scoring.forecast_confidence)

    def _chance(self, grown: Spread, original: MentionRow, now: datetime, got: Outlook | None) -> float | None:
        """With ``forecast_rule = "learned"`` and a forecast made: the learned chance of crossing.
        Its velocity is the original's own counter's, as every other feature and the fit are
        (reposts' likes would read as the post itself speeding up)."""
        scoring = self.config.scoring
        if got is None or scoring.forecast_rule != "learned":
            return None
        return chance(grown.curve, original.post.created_at, now, scoring.velocity_window, scoring.velocity_urgent, grown.own, grown.projection, got)

    @staticmethod
    def _sighting(session: Session, row: PostRow, now: datetime, window: timedelta) -> Sighting | None:
        """Where a hot list's topic stands now (its latest rank and heat, the rank it
        climbed from since the reading before, and for "climbing fast" its reading
        when ``window`` opened, or else its first ranked one within it); None for a post of any other platform, or a topic
        whose latest reading has no rank."""
        title = list_title(row.platform)
        if not title:
            return None
        readings = session.scalars(
            select(SnapshotRow).where(SnapshotRow.post_id == row.id).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(2)
        ).all()
        rank = readings[0].rank if readings else None
        if rank is None:
            return None
        last, before = readings[0], readings[1] if len(readings) > 1 else None
        start = now - window
        # a reading is stored only when rank or heat changed: the one in force when the
        # window opened may be older than it, and is then the baseline, from the window's start
        held = session.scalar(select(SnapshotRow).where(SnapshotRow.post_id == row.id, SnapshotRow.at <= start).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(1))
        first = session.scalar(
            select(SnapshotRow)
            .where(SnapshotRow.post_id == row.id, SnapshotRow.rank.is_not(None), SnapshotRow.at >= start, SnapshotRow.id != last.id)
            .order_by(SnapshotRow.at, SnapshotRow.id)
            .limit(1)
        )
        since = None
        if held is not None and held.rank is not None and held.id != last.id:
            since = Baseline(held.rank, held.heat, last.at - start)
        elif first is not None and first.rank is not None:
            since = Baseline(first.rank, first.heat, last.at - first.at)
        if before is not None and before.rank is not None and before.rank > rank:
            return Sighting(title, rank, last.heat, before.rank, last.at - before.at, since)
        return Sighting(title, rank, last.heat, since=since)

    def _evaluate(self, session: Session, mention: MentionRow, row: PostRow, now: datetime, reads: Reads):
        scoring = self.config.scoring
        if mention.seen_at < now - scoring.track_for:
            return None  # history: counted, never alerted on (a restart must not page about last year)
        volume = reads.volume(mention.brand, mention.issue_key, now - scoring.volume_window)
        categories = []
        for name, words in (mention.terms or {}).items():
            severity = self.matcher.severity_of(name)
            if severity is not None:
                categories.append((name, severity, words))
        if reads.handled(row.id, mention.brand, mention.issue_key):
            # a post of a resolved case: its words and its issue's volume were dealt with;
            # only fresh spread (velocity) raises it again (slow growth is the follow-up's)
            categories, volume = [], 0
        # a repost is scored as its original's spread: the original's growth and its reposts'
        original = original_of(session, mention)
        grown = spread(session, original, now, scoring.velocity_window, reads.curve(original.post_id), reads.reposts(original.id))
        got = self._outlook(grown, original, now) if scoring.forecast_trigger else None
        evidence = Evidence(
            categories=categories,
            velocity=grown.velocity,
            volume=volume,
            projection=grown.projection,
            reposts=grown.reposts,
            author=Author(row.author, row.author_kind, row.author_followers),
            outlook=got,
            chance=self._chance(grown, original, now, got),
            hotlist=self._sighting(session, row, now, scoring.hotlist_climb_window),
        )
        return self.desk.consider(session, mention, row, assess(evidence, scoring), now)
