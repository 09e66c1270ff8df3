"""The report's numbers read from the database: ``build_report`` for the period
``[since, until)``. Mentions are counted in SQL (a period may hold 100k of them); tickets
are few, so their columns are read once and ``monitor.report.stats`` does the arithmetic.

The report is a snapshot *as of* ``until``: an acknowledgement or resolution after
``until`` is not counted yet, so re-running last week's report later gives the same numbers.
Tickets of the daemon's own source-health checks (brand ``monitor``) are not brand
business: they are left out of every ticket statistic and shown as one separate count.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from monitor.report.data import DayCount, PeriodTicket, PlaybookNumbers, ReportData, StepCounts, TopPost
from monitor.report.stats import day_bounds, median, ranked, severities, severity_stats
from monitor.storage.models import EventRow, MentionRow, PostRow, SnapshotRow, StepRow, TicketPostRow, TicketRow
from monitor.tickets.actions import SYSTEM_BRAND

TOP_POSTS = 10
TEXT_LIMIT = 200
_CASE_CHUNK = 400
"""Day boundaries per bucketing query: keeps bound parameters far below SQLite's limit
even for a ten-year period."""
REPEAT_WITHIN = timedelta(days=30)
"""A ticket whose issue (brand + issue key) had another ticket opened this shortly before
is a repeat: the problem came back."""


def build_report(session: Session, since: datetime, until: datetime, *, tz: tzinfo = UTC) -> ReportData:
    """The numbers of the period ``[since, until)``; ``tz`` decides where days begin in the
    daily trend. Mentions are counted in SQL (a period may hold 100k of them); tickets are
    few, so their columns are read once and the statistics are made in Python."""
    _check_period(since, until)
    tickets = _period_tickets(session, since, until)
    business = [t for t in tickets if t.brand != SYSTEM_BRAND]
    stats = tuple(severity_stats(sev, [t for t in business if t.severity == sev], until) for sev in severities(business))
    open_count, overdue = _open_at(session, until, system=False)
    health_open, _ = _open_at(session, until, system=True)
    days = _days(session, since, until, tz, business)
    return ReportData(
        since=since,
        until=until,
        tickets_opened=len(business),
        by_severity=stats,
        overall=severity_stats("all", business, until),
        by_brand=ranked(t.brand for t in business),
        by_category=ranked(c for t in business for c in dict.fromkeys(t.categories)),
        open_at_until=open_count,
        overdue_at_until=overdue,
        top_posts=top_posts(session, since, until),
        days=days,
        mentions=sum(d.mentions for d in days),
        source_health_opened=len(tickets) - len(business),
        source_health_open=health_open,
        playbook=playbook_numbers(session, business, since, until),
    )


def _check_period(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be aware datetimes (the database is in UTC)")
    if since >= until:
        raise ValueError(f"the period is empty: since {since.isoformat()} is not before until {until.isoformat()}")


def _in_period(column: Any, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column < until)


def _period_tickets(session: Session, since: datetime, until: datetime) -> list[PeriodTicket]:
    """Tickets opened in the period, as they stood at ``until``."""
    rows = session.execute(
        select(
            TicketRow.id, TicketRow.brand, TicketRow.severity, TicketRow.categories, TicketRow.opened_at, TicketRow.due_at, TicketRow.acked_at, TicketRow.resolved_at,
            TicketRow.issue_key, TicketRow.owner, TicketRow.reopened_at,
        )
        .where(_in_period(TicketRow.opened_at, since, until))
    )

    def by_until(value: datetime | None) -> datetime | None:
        return value if value is not None and value <= until else None

    return [
        PeriodTicket(
            r.brand, r.severity, tuple(r.categories or ()), r.opened_at, r.due_at, by_until(r.acked_at), by_until(r.resolved_at),
            r.id, r.issue_key, r.owner, by_until(r.reopened_at),
        )
        for r in rows
    ]



def _open_at(session: Session, until: datetime, *, system: bool) -> tuple[int, int]:
    """Tickets (of any age) not resolved at ``until``, and how many of them nobody had
    acknowledged although ``due_at`` had passed."""
    unresolved = and_(
        TicketRow.opened_at < until,
        or_(TicketRow.resolved_at.is_(None), TicketRow.resolved_at > until),
        (TicketRow.brand == SYSTEM_BRAND) if system else (TicketRow.brand != SYSTEM_BRAND),
    )
    overdue = and_(or_(TicketRow.acked_at.is_(None), TicketRow.acked_at > until), TicketRow.due_at < until)
    row = session.execute(select(func.count(), func.count(case((overdue, 1)))).where(unresolved)).one()
    return int(row[0]), int(row[1])


# -- the playbook numbers -------------------------------------------------------------------


def playbook_numbers(session: Session, tickets: Sequence[PeriodTicket], since: datetime, until: datetime) -> PlaybookNumbers:
    """First response against the playbook's first step, steps on time, repeat rate and
    tickets per owner for ``tickets`` (the period's brand tickets, as at ``until``).
    Anything done after ``until`` is not done yet, so the figures do not change when last
    week's report is run again."""
    by_id = {t.id: t for t in tickets}
    if not by_id:
        return PlaybookNumbers()
    first_done, first_on_time, responses, steps, with_steps = _step_figures(session, by_id, since, until)
    owners = _owners_at(session, by_id, since, until)
    named = [_flat(owner) for owner in owners.values() if owner is not None and _flat(owner)]
    return PlaybookNumbers(
        with_steps=with_steps,
        first_step_done=first_done,
        first_step_on_time=first_on_time,
        first_response=median(responses),
        steps=steps,
        tickets=len(by_id),
        repeats=len(_repeats(session, by_id, since, until)),
        by_owner=ranked(named),
        unassigned=len(by_id) - len(named),
    )


def _period_ticket_ids(since: datetime, until: datetime) -> Any:
    """The period's brand tickets, as a subquery: keeps ``IN`` lists out of the SQL (a
    yearly report may cover thousands of tickets)."""
    return select(TicketRow.id).where(_in_period(TicketRow.opened_at, since, until), TicketRow.brand != SYSTEM_BRAND)


def _step_figures(session: Session, by_id: Mapping[int, PeriodTicket], since: datetime, until: datetime) -> tuple[int, int, list[timedelta], StepCounts, int]:
    rows = session.execute(
        select(StepRow.ticket_id, StepRow.number, StepRow.due_at, StepRow.done_at)
        .where(StepRow.ticket_id.in_(_period_ticket_ids(since, until)))
        .order_by(StepRow.ticket_id, StepRow.number)
    ).all()
    outcomes: Counter[str] = Counter()
    first: dict[int, tuple[datetime, datetime | None]] = {}
    for ticket_id, _number, due_at, done_at in rows:
        ticket = by_id.get(ticket_id)
        if ticket is None:
            continue
        done = done_at if done_at is not None and done_at <= until else None
        first.setdefault(ticket_id, (due_at, done))  # ordered by number: the first is step 1
        if done is not None:
            outcomes["on_time" if done <= due_at else "late"] += 1
        elif ticket.resolved_at is not None:
            outcomes["skipped"] += 1
        else:
            outcomes["overdue" if due_at < until else "pending"] += 1
    responses = [done - by_id[tid].opened_at for tid, (_due, done) in first.items() if done is not None]
    on_time = sum(1 for due, done in first.values() if done is not None and done <= due)
    counts = StepCounts(outcomes["on_time"], outcomes["late"], outcomes["overdue"], outcomes["pending"], outcomes["skipped"])
    return len(responses), on_time, responses, counts, len(first)


def _repeats(session: Session, by_id: Mapping[int, PeriodTicket], since: datetime, until: datetime) -> set[int]:
    """Tickets reopened by ``until`` (the timeline has every reopening; ``reopened_at``
    only the last), or whose brand + issue had another ticket opened within
    ``REPEAT_WITHIN`` before them (that one may be older than the period)."""
    reopened = set(
        session.scalars(
            select(EventRow.ticket_id).distinct().where(EventRow.kind == "reopened", EventRow.at <= until, EventRow.ticket_id.in_(_period_ticket_ids(since, until)))
        )
    )
    reopened |= {t.id for t in by_id.values() if t.reopened_at is not None}
    opened: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    for brand, issue_key, opened_at, ticket_id in session.execute(
        select(TicketRow.brand, TicketRow.issue_key, TicketRow.opened_at, TicketRow.id).where(
            _in_period(TicketRow.opened_at, since - REPEAT_WITHIN, until), TicketRow.brand != SYSTEM_BRAND
        )
    ):
        opened.setdefault((brand, issue_key), []).append((opened_at, ticket_id))
    repeated = set()
    for t in by_id.values():
        earlier = opened.get((t.brand, t.issue_key), [])
        if any(t.opened_at - REPEAT_WITHIN <= at and (at, other) < (t.opened_at, t.id) for at, other in earlier):
            repeated.add(t.id)
    return (reopened & by_id.keys()) | repeated


_ASSIGNED_FROM = re.compile(r"^(.*?) → ")


def _owners_at(session: Session, by_id: Mapping[int, PeriodTicket], since: datetime, until: datetime) -> dict[int, str | None]:
    """Each ticket's owner at ``until``: the owner now, unless it was (re)assigned after
    ``until``; then the owner before the first such assignment, which the "assigned" event
    records as "previous → new" (just "new" when there was none)."""
    owners = {tid: t.owner for tid, t in by_id.items()}
    later = session.execute(
        select(EventRow.ticket_id, EventRow.detail)
        .where(EventRow.kind == "assigned", EventRow.at > until, EventRow.ticket_id.in_(_period_ticket_ids(since, until)))
        .order_by(EventRow.at.desc(), EventRow.id.desc())
    )
    for ticket_id, detail in later:  # latest first: the earliest one after until is applied last
        if ticket_id in owners:
            match = _ASSIGNED_FROM.match(detail or "")
            owners[ticket_id] = match.group(1) if match else None
    return owners


# -- top posts -----------------------------------------------------------------------------


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def _trim(text: str | None, limit: int = TEXT_LIMIT) -> str:
    flat = _flat(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def top_posts(session: Session, since: datetime, until: datetime, limit: int = TOP_POSTS) -> tuple[TopPost, ...]:
    """The posts of the period's (brand) tickets with the highest latest engagement; a
    post in several tickets appears once, under the lowest ticket id. All in one query:
    a big ticket may hold thousands of posts."""
    linked = (
        select(TicketPostRow.post_id, func.min(TicketPostRow.ticket_id).label("ticket_id"))
        .join(TicketRow, TicketRow.id == TicketPostRow.ticket_id)
        .where(_in_period(TicketRow.opened_at, since, until), TicketRow.brand != SYSTEM_BRAND)
        .group_by(TicketPostRow.post_id)
        .subquery()
    )
    rank = func.row_number().over(partition_by=SnapshotRow.post_id, order_by=(SnapshotRow.at.desc(), SnapshotRow.id.desc()))
    ranked = (
        select(SnapshotRow.post_id, SnapshotRow.reposts, SnapshotRow.comments, SnapshotRow.likes, rank.label("rank"))
        .where(SnapshotRow.post_id.in_(select(linked.c.post_id)))
        .subquery()
    )
    latest = select(ranked).where(ranked.c.rank == 1).subquery()
    total = func.coalesce(latest.c.reposts, 0) + func.coalesce(latest.c.comments, 0) + func.coalesce(latest.c.likes, 0)
    rows = session.execute(
        select(linked.c.ticket_id, PostRow.url, PostRow.author, PostRow.title, PostRow.text, PostRow.platform, total.label("total"), latest.c.reposts, latest.c.comments, latest.c.likes)
        .join(linked, linked.c.post_id == PostRow.id)
        .outerjoin(latest, latest.c.post_id == PostRow.id)
        .order_by(total.desc(), PostRow.id)
        .limit(limit)
    )
    return tuple(
        TopPost(r.ticket_id, _flat(r.url), _trim(r.author, 100), _trim(r.text or r.title), r.platform, int(r.total or 0), r.reposts, r.comments, r.likes)
        for r in rows
    )



def _mentions_per_bucket(session: Session, since: datetime, until: datetime, bounds: Sequence[datetime]) -> Counter[int]:
    """Mentions per bucket, counted by the database with one CASE per day boundary (one
    table scan, whatever the time zone; no dialect-specific date functions). Long periods
    are split so no query carries more than ``_CASE_CHUNK`` boundaries."""
    counts: Counter[int] = Counter()
    edges = [since, *bounds, until]
    for start in range(0, len(edges) - 1, _CASE_CHUNK):
        chunk = edges[start : start + _CASE_CHUNK + 1]
        where = _in_period(MentionRow.seen_at, chunk[0], chunk[-1])
        inner = chunk[1:-1]
        if not inner:
            counts[start] += int(session.scalar(select(func.count()).select_from(MentionRow).where(where)) or 0)
            continue
        bucket = case(*[(MentionRow.seen_at < b, start + i) for i, b in enumerate(inner)], else_=start + len(inner))
        # grouped outside a subquery: PostgreSQL refuses a GROUP BY that repeats an
        # expression with bound parameters (they are different placeholders there)
        buckets = select(bucket.label("bucket")).where(where).subquery()
        for index, count in session.execute(select(buckets.c.bucket, func.count()).group_by(buckets.c.bucket)):
            counts[int(index)] += int(count)
    return counts


def _days(session: Session, since: datetime, until: datetime, tz: tzinfo, tickets: Sequence[PeriodTicket]) -> tuple[DayCount, ...]:
    days, bounds = day_bounds(since, until, tz)
    mentions = _mentions_per_bucket(session, since, until, bounds)
    opened = Counter(bisect.bisect_right(bounds, t.opened_at) for t in tickets)
    return tuple(DayCount(day, mentions[i], opened[i]) for i, day in enumerate(days))
