"""Posts stored once per platform id; engagement kept as snapshots, a new one only on change.

``store_batch`` is the ingest path: a poll's posts in a handful of statements (one look-up
of those already stored, one multi-row insert of the new ones, one of their snapshots,
one ``last_seen_at`` update), instead of several round trips per post. ``upsert_post``
is the same rule for one post, and the fallback when a batch insert fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from monitor.storage.models import PostRow, SnapshotRow
from sources import Post


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
        row = PostRow(**new_row(source, post, now))
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


def new_row(source: str, post: Post, now: datetime) -> dict[str, Any]:
    """The columns of a post stored for the first time (both paths build rows from this)."""
    return {
        "platform": post.platform,
        "platform_id": post.id,
        "source": source,
        "ref": post.ref,
        "url": post.url,
        "author": post.author,
        "title": post.title,
        "text": post.text,
        "created_at": post.created_at,
        "first_seen_at": now,
        "last_seen_at": now,
        "matched": False,
        "repost_of": post.repost_of,
        "author_followers": post.author_followers,
        "author_kind": post.author_kind,
    }


Counters = tuple[int | None, int | None, int | None, int | None, int | None, int | None]


def _counters(post: Post) -> Counters:
    e = post.engagement
    return (e.reposts, e.comments, e.likes, e.views, e.rank, e.heat)


@dataclass(slots=True)
class Stored:
    """One post of a batch after ``store_batch``: its row id, and what changed."""

    post: Post
    id: int
    new: bool
    grew: bool
    edited: bool
    text: str
    """The text as stored now (what matching reads)."""
    previous_text: str


def store_batch(session: Session, source: str, posts: Sequence[Post], now: datetime) -> tuple[list[Stored], list[Post]]:
    """Store a batch of distinct posts in a few statements and say, for each, what changed
    (the rule of ``upsert_post``). Returns the stored posts in batch order, and the posts
    the batch insert could not take (left for ``upsert_post``, one at a time, so one bad
    post does not lose the rest)."""
    known = _known(session, posts)
    fresh = [p for p in posts if (p.platform, p.id) not in known]
    failed: list[Post] = []
    ids: dict[tuple[str, str], int] = {}
    if fresh:
        try:
            with session.begin_nested():
                ids = _insert_posts(session, [new_row(source, p, now) for p in fresh])
        except Exception:
            failed = fresh  # a value the database refuses (a NUL in PostgreSQL text …)
            ids = {}
        if len(ids) < len(fresh) and not failed:
            # stored meanwhile by another replica (ON CONFLICT DO NOTHING skipped them): known posts now
            known.update(_known(session, [p for p in fresh if (p.platform, p.id) not in ids]))
    counted = {(p.platform, p.id) for p in posts if p.engagement.known}  # feeds carry no counters: no snapshot look-up
    latest = _latest_counters(session, [k.id for key, k in known.items() if key in counted])
    out: list[Stored] = []
    snapshots: list[dict[str, Any]] = []
    seen: list[int] = []
    for post in posts:
        key = (post.platform, post.id)
        counters = _counters(post)
        if key in ids:
            row_id = ids[key]
            grew = post.engagement.known
            out.append(Stored(post, row_id, True, grew, False, post.text, post.text))
        elif key in known:
            k = known[key]
            row_id = k.id
            changes: dict[str, Any] = {}
            edited = bool(post.text) and post.text != k.text
            if edited:
                changes["text"] = post.text  # edited posts are matched on their current text
            if post.ref and k.source == source and k.ref != post.ref:
                changes["ref"] = post.ref
            if changes:
                session.execute(update(PostRow).where(PostRow.id == row_id).values(last_seen_at=now, **changes))
            else:
                seen.append(row_id)
            grew = post.engagement.known and latest.get(row_id) != counters
            out.append(Stored(post, row_id, False, grew, edited, post.text if edited else k.text, k.text))
        else:
            continue  # in ``failed``
        if grew:
            e = post.engagement
            snapshots.append({"post_id": row_id, "at": now, "reposts": e.reposts, "comments": e.comments, "likes": e.likes, "views": e.views, "rank": e.rank, "heat": e.heat})
    for chunk in chunks(seen):
        session.execute(update(PostRow).where(PostRow.id.in_(chunk)).values(last_seen_at=now))
    if snapshots:
        session.execute(insert(cast(Table, SnapshotRow.__table__)), snapshots)  # Core executemany, not the ORM's bulk path
    return out, failed


def unstore(session: Session, stored: Stored, now: datetime) -> None:
    """Take back what ``store_batch`` did for one post whose matching or scoring failed, as
    a per-post savepoint would have: the next poll sees it as new (or grown, or edited)
    again and retries, instead of finding it stored and unchanged."""
    if stored.new:
        session.execute(delete(SnapshotRow).where(SnapshotRow.post_id == stored.id))
        session.execute(delete(PostRow).where(PostRow.id == stored.id))
        return
    if stored.grew:
        session.execute(delete(SnapshotRow).where(SnapshotRow.post_id == stored.id, SnapshotRow.at == now))
    if stored.edited:
        session.execute(update(PostRow).where(PostRow.id == stored.id).values(text=stored.previous_text))


@dataclass(frozen=True, slots=True)
class _Known:
    id: int
    text: str
    source: str
    ref: str


_CHUNK = 500  # bound parameters per IN (…): well inside SQLite's and PostgreSQL's limits


def chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    """``items`` in slices small enough for one ``IN (…)``."""
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _known(session: Session, posts: Sequence[Post]) -> dict[tuple[str, str], _Known]:
    by_platform: dict[str, list[str]] = {}
    for post in posts:
        by_platform.setdefault(post.platform, []).append(post.id)
    found: dict[tuple[str, str], _Known] = {}
    for platform, platform_ids in by_platform.items():
        for chunk in chunks(platform_ids):
            rows = session.execute(
                select(PostRow.platform_id, PostRow.id, PostRow.text, PostRow.source, PostRow.ref).where(
                    PostRow.platform == platform, PostRow.platform_id.in_(chunk)
                )
            )
            for platform_id, row_id, text, row_source, ref in rows:
                found[(platform, platform_id)] = _Known(row_id, text, row_source, ref)
    return found


def _latest_counters(session: Session, post_ids: Sequence[int]) -> dict[int, Counters]:
    """Each post's latest snapshot counters, in one query per chunk."""
    latest: dict[int, Counters] = {}
    for chunk in chunks(post_ids):
        newest = func.row_number().over(partition_by=SnapshotRow.post_id, order_by=(SnapshotRow.at.desc(), SnapshotRow.id.desc())).label("newest")
        ranked = (
            select(SnapshotRow.post_id, SnapshotRow.reposts, SnapshotRow.comments, SnapshotRow.likes, SnapshotRow.views, SnapshotRow.rank, SnapshotRow.heat, newest)
            .where(SnapshotRow.post_id.in_(chunk))
            .subquery()
        )
        for post_id, reposts, comments, likes, views, rank, heat in session.execute(
            select(ranked.c.post_id, ranked.c.reposts, ranked.c.comments, ranked.c.likes, ranked.c.views, ranked.c.rank, ranked.c.heat).where(ranked.c.newest == 1)
        ):
            latest[post_id] = (reposts, comments, likes, views, rank, heat)
    return latest


def _insert_posts(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, many rows per statement: the new rows' ids
    by (platform, platform_id); a row another replica stored first is simply not returned."""
    stmt: Insert
    table = cast(Table, PostRow.__table__)  # a mapped class's table is a Table; its stub says FromClause
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["platform", "platform_id"])
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["platform", "platform_id"])
    else:
        stmt = insert(table)
    result = session.execute(stmt.returning(table.c.platform, table.c.platform_id, table.c.id), rows)
    return {(platform, platform_id): row_id for platform, platform_id, row_id in result}


def _snapshot(session: Session, row: PostRow, post: Post, now: datetime) -> bool:
    e = post.engagement
    if not e.known:
        return False
    last = session.scalar(select(SnapshotRow).where(SnapshotRow.post_id == row.id).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(1))
    if last is not None and (last.reposts, last.comments, last.likes, last.views, last.rank, last.heat) == _counters(post):
        return False
    session.add(SnapshotRow(post_id=row.id, at=now, reposts=e.reposts, comments=e.comments, likes=e.likes, views=e.views, rank=e.rank, heat=e.heat))
    session.flush()
    return True


def latest_snapshot(session: Session, post_id: int) -> SnapshotRow | None:
    return session.scalar(select(SnapshotRow).where(SnapshotRow.post_id == post_id).order_by(SnapshotRow.at.desc(), SnapshotRow.id.desc()).limit(1))


def still_listed(session: Session, source: str, since: datetime) -> list[Post]:
    """The posts a whole-list source (a hot list) had on its list at the last poll stored:
    seen since ``since`` and with a rank at their latest reading (one that left has an
    off-list reading last). Handed back to the source after a restart, a reload or a
    replica's take-over, so what left the list meanwhile is still recorded leaving."""
    rows = session.scalars(select(PostRow).where(PostRow.source == source, PostRow.last_seen_at >= since).order_by(PostRow.id)).all()
    latest = _latest_counters(session, [row.id for row in rows])
    return [
        Post(platform=row.platform, id=row.platform_id, url=row.url, text=row.text, title=row.title, author=row.author, created_at=row.created_at)
        for row in rows
        if row.id in latest and latest[row.id][4] is not None
    ]
