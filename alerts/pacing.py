"""When a queued notice may go: Alertmanager's group_wait / group_interval /
repeat_interval, plus working hours. Pure functions of explicit times.

- A group's first news waits ``group_wait`` for company, so a burst becomes one message.
- Once a group has been told, its next message waits until ``group_interval`` after the
  last one, so a stream of tickets is a handful of messages, not one each.
- Urgency comes first: a severity whose ``group_wait`` is zero (urgent, by default) is
  never held back by ``group_interval`` either.
- An unacknowledged ticket is told again every ``repeat_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from .model import Severity
from .routing import DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, Route

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def news_due(route: Route, severity: Severity, now: datetime, last_flush: datetime | None) -> datetime:
    """When the message about a new, raised or reopened ticket may go."""
    wait = route.group_wait.get(severity, DEFAULT_GROUP_WAIT[severity])
    due = now + wait
    if wait and last_flush is not None:
        due = max(due, last_flush + route.group_interval)
    return due


def repeat_due(route: Route, severity: Severity, last_told: datetime, last_flush: datetime | None) -> datetime:
    """When an unacknowledged ticket is next re-announced."""
    due = last_told + route.repeat_interval.get(severity, DEFAULT_REPEAT_INTERVAL[severity])
    if last_flush is not None:
        due = max(due, last_flush + route.group_interval)
    return due


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Office hours in the monitor's time zone. Messages of ``severities`` that fall due
    outside them wait for the next opening (a normal reminder at 03:00 waits for 09:00)."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    days: frozenset[int] = frozenset(range(5))
    """Weekday numbers, Monday = 0."""
    severities: frozenset[Severity] = frozenset({Severity.normal})

    def applies(self, severity: Severity) -> bool:
        return severity in self.severities and severity is not Severity.urgent

    def is_open(self, when: datetime, tz: tzinfo) -> bool:
        local = when.astimezone(tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, when: datetime, tz: tzinfo) -> datetime:
        """``when`` itself if inside working hours, else the next opening (aware, same zone as ``when``)."""
        if not self.days or self.is_open(when, tz):
            return when
        local = when.astimezone(tz)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=tz)
            if opening >= local:
                return opening.astimezone(when.tzinfo)
        return when  # unreachable with at least one working day

    def defer(self, due: datetime, severity: Severity, tz: tzinfo) -> datetime:
        return self.next_open(due, tz) if self.applies(severity) else due
