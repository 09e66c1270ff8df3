"""What a report says, as frozen values: the counts, SLA outcomes, timings, playbook
numbers and top posts of one period, computed once so the file, the email and the text
rendered from one ``ReportData`` can never disagree. Apart from the queries that fill them
and the templates that show them, so the numbers can be tested without either.

The playbook numbers (``PlaybookNumbers``) are the ones the complaint-handling playbooks
ask for: was the first step done in time, are steps done on time, does the same problem
come back, and who carries the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from alerts import Severity


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
class PeriodTicket:
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


def severity_label(name: str) -> str:
    try:
        return f"{Severity[name].zh} {name}"
    except KeyError:
        return "全部 all" if name == "all" else name
