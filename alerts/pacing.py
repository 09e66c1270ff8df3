"""When a queued notice may go: Alertmanager's group_wait / group_interval /
repeat_interval, plus working hours. Pure functions of explicit times.

- A group's first news waits ``group_wait`` for company, so a burst becomes one message.
- Once a group has been told, its next message waits until ``group_interval`` after the
  last one, so a stream of tickets is a handful of messages, not one each. That holds for
  news and repeats alike, and whatever the severity's ``group_wait`` (``"0s"`` only means
  the first message does not wait for company).
- Urgency comes first: urgent is never held back by ``group_interval``, neither its news
  nor its repeats (by severity, not by its ``group_wait``).
- An unacknowledged ticket is told again every ``repeat_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from alerts.model import Severity
from alerts.routing import DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, Route

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def held_by_group_interval(severity: Severity) -> bool:
    """Whether a severity's messages wait for ``group_interval`` after its group's last
    message: every severity but urgent."""
    return severity is not Severity.urgent


def news_due(route: Route, severity: Severity, now: datetime, last_flush: datetime | None) -> datetime:
    """When the message about a new, raised or reopened ticket may go: after its
    ``group_wait``, and (urgent excepted) not before ``group_interval`` after its group's
    last message."""
    due = now + route.group_wait.get(severity, DEFAULT_GROUP_WAIT[severity])
    if last_flush is not None and held_by_group_interval(severity):
        due = max(due, last_flush + route.group_interval)
    return due


def repeat_due(route: Route, severity: Severity, last_told: datetime, last_flush: datetime | None) -> datetime:
    """When an unacknowledged ticket is next re-announced: ``repeat_interval`` after it was
    last told, and (urgent excepted) not before ``group_interval`` after its group's last
    message."""
    due = last_told + route.repeat_interval.get(severity, DEFAULT_REPEAT_INTERVAL[severity])
    if last_flush is not None and held_by_group_interval(severity):
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
