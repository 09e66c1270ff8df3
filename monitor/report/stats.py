"""The report's arithmetic, no database and no rendering: SLA outcomes, medians, rankings
and the local days a period touches, each a function of its arguments and an explicit
``until`` (or time zone). Apart so the rules a manager argues about ("is a resolution
without an acknowledgement kept?", "where does a day begin?") are read and tested alone."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from alerts import Severity
from monitor.report.data import PeriodTicket, SeverityStats, SlaCounts, Timing


def severities(tickets: Sequence[PeriodTicket]) -> list[str]:
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


def sla_counts(tickets: Iterable[PeriodTicket], until: datetime) -> SlaCounts:
    outcomes = Counter(sla_outcome(t.due_at, t.acked_at, t.resolved_at, until) for t in tickets)
    return SlaCounts(outcomes["kept"], outcomes["missed"], outcomes["pending"])


def median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def timing(tickets: Sequence[PeriodTicket]) -> Timing:
    acks = [t.acked_at - t.opened_at for t in tickets if t.acked_at is not None]
    resolves = [t.resolved_at - t.opened_at for t in tickets if t.resolved_at is not None]
    return Timing(median(acks), median(resolves), len(acks), len(resolves))


def severity_stats(severity: str, tickets: Sequence[PeriodTicket], until: datetime) -> SeverityStats:
    return SeverityStats(severity, len(tickets), sla_counts(tickets, until), timing(tickets))


def ranked(names: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """Most frequent first; ties by name so the report does not reshuffle between runs."""
    return tuple(sorted(Counter(names).items(), key=lambda item: (-item[1], item[0])))


def day_bounds(since: datetime, until: datetime, tz: tzinfo) -> tuple[list[date], list[datetime]]:
    """The local days the period touches and the instants between them (each local
    midnight strictly inside the period): ``n`` days have ``n - 1`` bounds."""
    first = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [datetime.combine(d, time(), tzinfo=tz).astimezone(UTC) for d in days[1:]]
    return days, bounds
