"""The digest report: management's daily or weekly summary of tickets, SLA and volume.

``build_report`` reads the numbers from the database, ``render_report`` turns them into a
subject, a plain-text body, an HTML body and a trend chart (PNG). The two are separate so
the numbers can be tested without rendering, and so one ``ReportData`` can be rendered for
a file (images as data URIs) or for an email (images as ``cid:`` attachments).

The report is a snapshot *as of* ``until``: an acknowledgement or resolution after
``until`` is not counted yet, so re-running last week's report later gives the same numbers.
Tickets of the daemon's own source-health checks (brand ``monitor``) are not brand
business: they are left out of every ticket statistic and shown as one separate count.

The playbook numbers (``PlaybookNumbers``) are the ones the complaint-handling playbooks
ask for: was the first step done in time, are steps done on time, does the same problem
come back, and who carries the load.
"""

from __future__ import annotations

import base64
import bisect
import io
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from alerts import Severity
from monitor.durations import human_duration
from monitor.storage.models import EventRow, MentionRow, PostRow, SnapshotRow, StepRow, TicketPostRow, TicketRow
from monitor.tickets.actions import SYSTEM_BRAND
from weburl import href

TOP_POSTS = 10
TEXT_LIMIT = 200
CHART_NAME = "trend.png"
_CASE_CHUNK = 400
"""Day boundaries per bucketing query: keeps bound parameters far below SQLite's limit
even for a ten-year period."""
REPEAT_WITHIN = timedelta(days=30)
"""A ticket whose issue (brand + issue key) had another ticket opened this shortly before
is a repeat: the problem came back."""
UNASSIGNED = "未指派 unassigned"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

ImageSrc = Callable[[str, bytes], str]


# -- the numbers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaCounts:
    """Whether the first response (acknowledgement, else resolution) came by ``due_at``."""

    kept: int = 0
    missed: int = 0
    pending: int = 0
    """No response yet, and the deadline is still ahead at ``until``."""

    @property
    def total(self) -> int:
        return self.kept + self.missed + self.pending


@dataclass(frozen=True, slots=True)
class Timing:
    """Median time from opening to acknowledgement and to resolution, over the tickets
    that have one (``None`` when none has)."""

    ack: timedelta | None = None
    resolve: timedelta | None = None
    acked: int = 0
    resolved: int = 0


@dataclass(frozen=True, slots=True)
class SeverityStats:
    severity: str
    opened: int
    sla: SlaCounts
    timing: Timing

    @property
    def label(self) -> str:
        """"紧急 urgent" for the known grades, the raw name otherwise."""
        return severity_label(self.severity)


@dataclass(frozen=True, slots=True)
class TopPost:
    ticket_id: int
    url: str
    author: str
    text: str
    """Whitespace collapsed (in url and author too: a line break in a post must not forge
    a line of the text report) and trimmed to ``TEXT_LIMIT`` characters."""
    platform: str
    engagement: int
    """Reposts + comments + likes from the post's latest snapshot (0 without one)."""
    reposts: int | None = None
    comments: int | None = None
    likes: int | None = None


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    """A calendar day in the report's time zone."""
    mentions: int
    tickets: int


@dataclass(frozen=True, slots=True)
class StepCounts:
    """Playbook steps of the period's tickets, as they stood at ``until``."""

    on_time: int = 0
    """Done by its deadline (on the minute counts)."""
    late: int = 0
    """Done, after its deadline."""
    overdue: int = 0
    """Not done, deadline passed, the ticket still unresolved."""
    pending: int = 0
    """Not done, deadline still ahead, the ticket unresolved."""
    skipped: int = 0
    """Not done, yet the ticket was resolved: the playbook's "closing at 80%"."""

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.overdue + self.pending + self.skipped


@dataclass(frozen=True, slots=True)
class PlaybookNumbers:
    """What the playbooks measure, over the period's (brand) tickets, as of ``until``."""

    with_steps: int = 0
    """Tickets that carry a playbook checklist: the base of the first-step figures."""
    first_step_done: int = 0
    """Of those, how many had their first step done."""
    first_step_on_time: int = 0
    """… done by that step's deadline."""
    first_response: timedelta | None = None
    """Median time from opening to the first step done (``None`` when none was)."""
    steps: StepCounts = StepCounts()
    tickets: int = 0
    """The period's tickets: the base of the repeat rate."""
    repeats: int = 0
    """Reopened by ``until``, or their issue had another ticket opened within
    ``REPEAT_WITHIN`` before them."""
    by_owner: tuple[tuple[str, int], ...] = ()
    """Tickets per owner (as assigned at ``until``), most first; unassigned ones apart."""
    unassigned: int = 0

    @property
    def repeat_rate(self) -> float | None:
        return self.repeats / self.tickets if self.tickets else None


@dataclass(frozen=True)
class ReportData:
    """What one report says, computed once: frozen, so the file, the email and the text
    rendered from it can never disagree. Counts are of tickets opened in ``[since, until)``
    except ``open_at_until``/``overdue_at_until``, which count tickets of any age."""

    since: datetime
    until: datetime
    tickets_opened: int
    by_severity: tuple[SeverityStats, ...]
    """Most severe first; every known grade is present, even with zero tickets."""
    overall: SeverityStats
    """All severities together (``severity`` is "all")."""
    by_brand: tuple[tuple[str, int], ...]
    by_category: tuple[tuple[str, int], ...]
    open_at_until: int
    overdue_at_until: int
    """Open (nobody acknowledged) at ``until`` and past ``due_at``."""
    top_posts: tuple[TopPost, ...]
    days: tuple[DayCount, ...]
    mentions: int
    source_health_opened: int
    source_health_open: int
    playbook: PlaybookNumbers = PlaybookNumbers()

    def severity(self, name: str) -> SeverityStats:
        """The stats of one grade (zeros when no ticket had it)."""
        for stats in self.by_severity:
            if stats.severity == name:
                return stats
        return SeverityStats(name, 0, SlaCounts(), Timing())


@dataclass(frozen=True, slots=True)
class _Ticket:
    """The columns the statistics need, with responses after ``until`` already dropped."""

    brand: str
    severity: str
    categories: tuple[str, ...]
    opened_at: datetime
    due_at: datetime
    acked_at: datetime | None
    resolved_at: datetime | None
    id: int = 0
    issue_key: str = ""
    owner: str | None = None
    """The owner now; ``_owners_at`` turns it into the owner at ``until``."""
    reopened_at: datetime | None = None
    """The last reopening, if it was by ``until``."""


def build_report(session: Session, since: datetime, until: datetime, *, tz: tzinfo = UTC) -> ReportData:
    """The numbers of the period ``[since, until)``; ``tz`` decides where days begin in the
    daily trend. Mentions are counted in SQL (a period may hold 100k of them); tickets are
    few, so their columns are read once and the statistics are made in Python."""
    _check_period(since, until)
    tickets = _period_tickets(session, since, until)
    business = [t for t in tickets if t.brand != SYSTEM_BRAND]
    stats = tuple(_severity_stats(sev, [t for t in business if t.severity == sev], until) for sev in _severities(business))
    open_count, overdue = _open_at(session, until, system=False)
    health_open, _ = _open_at(session, until, system=True)
    days = _days(session, since, until, tz, business)
    return ReportData(
        since=since,
        until=until,
        tickets_opened=len(business),
        by_severity=stats,
        overall=_severity_stats("all", business, until),
        by_brand=_ranked(t.brand for t in business),
        by_category=_ranked(c for t in business for c in dict.fromkeys(t.categories)),
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


def _period_tickets(session: Session, since: datetime, until: datetime) -> list[_Ticket]:
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
        _Ticket(
            r.brand, r.severity, tuple(r.categories or ()), r.opened_at, r.due_at, by_until(r.acked_at), by_until(r.resolved_at),
            r.id, r.issue_key, r.owner, by_until(r.reopened_at),
        )
        for r in rows
    ]


def _severities(tickets: Sequence[_Ticket]) -> list[str]:
    """The known grades, most severe first, then any other name found (old data)."""
    known = [s.name for s in sorted(Severity, reverse=True)]
    return known + sorted({t.severity for t in tickets} - set(known))


def sla_outcome(due_at: datetime, acked_at: datetime | None, resolved_at: datetime | None, until: datetime) -> str:
    """"kept", "missed" or "pending": the first response is the acknowledgement, or the
    resolution for a ticket resolved without one; no response is missed only once the
    deadline has passed at ``until``."""
    response = acked_at if acked_at is not None else resolved_at
    if response is not None:
        return "kept" if response <= due_at else "missed"
    return "missed" if due_at < until else "pending"


def _sla(tickets: Iterable[_Ticket], until: datetime) -> SlaCounts:
    outcomes = Counter(sla_outcome(t.due_at, t.acked_at, t.resolved_at, until) for t in tickets)
    return SlaCounts(outcomes["kept"], outcomes["missed"], outcomes["pending"])


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _timing(tickets: Sequence[_Ticket]) -> Timing:
    acks = [t.acked_at - t.opened_at for t in tickets if t.acked_at is not None]
    resolves = [t.resolved_at - t.opened_at for t in tickets if t.resolved_at is not None]
    return Timing(_median(acks), _median(resolves), len(acks), len(resolves))


def _severity_stats(severity: str, tickets: Sequence[_Ticket], until: datetime) -> SeverityStats:
    return SeverityStats(severity, len(tickets), _sla(tickets, until), _timing(tickets))


def _ranked(names: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """Most frequent first; ties by name so the report does not reshuffle between runs."""
    return tuple(sorted(Counter(names).items(), key=lambda item: (-item[1], item[0])))


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


def playbook_numbers(session: Session, tickets: Sequence[_Ticket], since: datetime, until: datetime) -> PlaybookNumbers:
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
        first_response=_median(responses),
        steps=steps,
        tickets=len(by_id),
        repeats=len(_repeats(session, by_id, since, until)),
        by_owner=_ranked(named),
        unassigned=len(by_id) - len(named),
    )


def _period_ticket_ids(since: datetime, until: datetime) -> Any:
    """The period's brand tickets, as a subquery: keeps ``IN`` lists out of the SQL (a
    yearly report may cover thousands of tickets)."""
    return select(TicketRow.id).where(_in_period(TicketRow.opened_at, since, until), TicketRow.brand != SYSTEM_BRAND)


def _step_figures(session: Session, by_id: Mapping[int, _Ticket], since: datetime, until: datetime) -> tuple[int, int, list[timedelta], StepCounts, int]:
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


def _repeats(session: Session, by_id: Mapping[int, _Ticket], since: datetime, until: datetime) -> set[int]:
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


def _owners_at(session: Session, by_id: Mapping[int, _Ticket], since: datetime, until: datetime) -> dict[int, str | None]:
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


# -- the daily trend -----------------------------------------------------------------------


def day_bounds(since: datetime, until: datetime, tz: tzinfo) -> tuple[list[date], list[datetime]]:
    """The local days the period touches and the instants between them (each local
    midnight strictly inside the period): ``n`` days have ``n - 1`` bounds."""
    first = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [datetime.combine(d, time(), tzinfo=tz).astimezone(UTC) for d in days[1:]]
    return days, bounds


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


def _days(session: Session, since: datetime, until: datetime, tz: tzinfo, tickets: Sequence[_Ticket]) -> tuple[DayCount, ...]:
    days, bounds = day_bounds(since, until, tz)
    mentions = _mentions_per_bucket(session, since, until, bounds)
    opened = Counter(bisect.bisect_right(bounds, t.opened_at) for t in tickets)
    return tuple(DayCount(day, mentions[i], opened[i]) for i, day in enumerate(days))


# -- rendering -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    subject: str
    text: str
    html: str
    images: Mapping[str, bytes]
    """Name → PNG bytes; attach them (``Content-ID: <name>``) when ``image_src`` gave ``cid:`` links."""


def data_uri(name: str, png: bytes) -> str:
    """An ``image_src`` for a standalone HTML file: the image travels inside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cid(name: str, png: bytes) -> str:
    """An ``image_src`` for an email: the image is a related MIME part with ``Content-ID: <name>``."""
    return f"cid:{name}"


def severity_label(name: str) -> str:
    try:
        return f"{Severity[name].zh} {name}"
    except KeyError:
        return "全部 all" if name == "all" else name


def _period_label(since: datetime, until: datetime, tz: tzinfo) -> str:
    days, _ = day_bounds(since, until, tz)  # the days the trend shows: until is exclusive
    first, last = days[0], days[-1]
    return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"


def _kind_label(since: datetime, until: datetime) -> str:
    span = until - since
    if span <= timedelta(days=1, hours=1):
        return "日报"
    if span <= timedelta(days=7, hours=1):
        return "周报"
    return "报告"


def report_subject(data: ReportData, tz: tzinfo) -> str:
    """``[日报 digest] 2026-11-15 – 2026-11-22: 12 tickets (3 urgent), SLA missed 2``:
    the figures a manager decides on, readable in a mail list without opening it."""
    urgent = data.severity(Severity.urgent.name).opened
    subject = (
        f"[{_kind_label(data.since, data.until)} digest] {_period_label(data.since, data.until, tz)}: "
        f"{data.tickets_opened} tickets ({urgent} urgent), SLA missed {data.overall.sla.missed}"
    )
    return _CONTROL.sub(" ", subject)


def trend_png(days: Sequence[DayCount]) -> bytes:
    """Mentions per day as bars, tickets opened per day as a line on a second axis;
    640x240 PNG. matplotlib is imported here, not at module level, so the daemon (which
    never draws) does not pay for it; the Figure API without pyplot keeps no global state.
    Labels are ASCII, so the default font suffices (no CJK font needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(days)))
    mentions = [d.mentions for d in days]
    if len(days) <= 92:
        ax.bar(xs, mentions, color="#9ecae1", label="mentions / day")
    else:  # thousands of bars take seconds to draw and are unreadable anyway
        ax.fill_between(xs, mentions, step="mid", color="#9ecae1", label="mentions / day")
    ax.set_ylabel("mentions", fontsize=8)
    ax.set_ylim(0, max(mentions + [1]) * 1.35)  # headroom for the legend
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    stride = max(1, -(-len(days) // 10))
    ax.set_xticks(xs[::stride], [d.day.strftime("%m-%d") for d in days][::stride], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    twin = ax.twinx()
    twin.plot(xs, [d.tickets for d in days], color="#d62728", marker="o" if len(days) <= 92 else "", markersize=3, linewidth=1.5, label="tickets / day")
    twin.set_ylabel("tickets", fontsize=8)
    twin.set_ylim(0, max([d.tickets for d in days] + [1]) * 1.35)
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    twin.tick_params(axis="y", labelsize=7)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize=7, frameon=False)
    fig.tight_layout(pad=0.4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built once: HTML autoescaped (post text and author names are hostile), text not."""
    env = Environment(
        loader=PackageLoader("monitor.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = human_duration
    env.filters["href"] = href
    env.filters["count"] = lambda v: "–" if v is None else str(v)
    env.filters["percent"] = lambda v: "–" if v is None else f"{v:.0%}"
    return env


def render_report(data: ReportData, *, tz: tzinfo, image_src: ImageSrc = data_uri) -> Report:
    """Subject, text and HTML of one report. ``image_src(name, png)`` decides how the HTML
    points at the chart: ``data_uri`` for a file, ``cid`` for an email."""
    png = trend_png(data.days)
    subject = report_subject(data, tz)

    def local(when: datetime) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

    context = {
        "d": data, "p": data.playbook, "unassigned_label": UNASSIGNED, "subject": subject, "since": local(data.since), "until": local(data.until),
        "chart_src": image_src(CHART_NAME, png), "chart_name": CHART_NAME,
    }
    env = _environment()
    return Report(
        subject=subject,
        text=env.get_template("report.txt").render(**context),
        html=env.get_template("report.html").render(**context),
        images={CHART_NAME: png},
    )


def make_report(session: Session, since: datetime, until: datetime, tz: tzinfo, image_src: ImageSrc = data_uri) -> Report:
    """Build and render in one call: what the ``report`` command and a scheduled digest need."""
    return render_report(build_report(session, since, until, tz=tz), tz=tz, image_src=image_src)
