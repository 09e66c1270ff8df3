"""What an alert is, independent of where its posts came from or how it is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum


class Severity(IntEnum):
    """Ordered grades from the playbooks: 一般 < 重要 < 紧急."""

    normal = 1
    important = 2
    urgent = 3

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a severity (normal, important, urgent)") from None

    @property
    def zh(self) -> str:
        return {1: "一般", 2: "重要", 3: "紧急"}[self.value]


@dataclass(frozen=True, slots=True)
class AlertPost:
    url: str
    author: str
    text: str
    platform: str
    created_at: datetime | None
    reposts: int | None = None
    comments: int | None = None
    likes: int | None = None


@dataclass(frozen=True, slots=True)
class AlertStep:
    """One line of the playbook checklist."""

    number: int
    text: str
    due_at: datetime
    done: bool = False
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class AlertCase:
    """A similar past case and how it ended."""

    ticket_id: int
    title: str
    resolution: str
    took: str


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell people about a ticket.

    ``kind`` is ``opened`` (new ticket), ``raised`` (its severity went up),
    ``reopened``, ``repeat`` (still unacknowledged after ``repeat_interval``),
    ``escalated`` (not acknowledged by its due time) or ``reminder`` (still
    unresolved past ``remind_after``).
    """

    ticket_id: int
    kind: str
    severity: Severity
    brand: str
    title: str
    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    posts: tuple[AlertPost, ...]
    opened_at: datetime
    due_at: datetime
    previous_severity: Severity | None = None
    ack_command: str = ""
    post_count: int = 0
    """All posts of the ticket; ``posts`` may carry only the first of them."""
    owner: str | None = None
    team: str | None = None
    note: str = ""
    """Why this message (e.g. which escalation step, who reopened it)."""
    steps: tuple[AlertStep, ...] = ()
    donts: tuple[str, ...] = ()
    similar: tuple[AlertCase, ...] = ()
    chart: str = ""
    """Content-ID of an inline PNG of the engagement curve (HTML part only)."""
    hot_lists: tuple[tuple[str, str], ...] = ()
    """One (Content-ID, caption) per hot list the brand's topic is on: an inline PNG of its
    rank and heat over time (HTML part; empty Content-ID: caption only), and a caption
    naming the list and topic and saying when it first appeared there."""
    ticket_url: str = ""
    """The ticket's page in the web console, when there is one."""
    ack_url: str = ""
    """A signed, expiring, single-use link that acknowledges the ticket."""


@dataclass(frozen=True, slots=True)
class Brief:
    """What a phone shows of a message, beside its text: how severe, which tickets, which
    brands, and the one link to tap. Never post text. The courier fills it at send time
    from the message's tickets, so a push receiver can set its priority (ntfy), level
    (Bark) or button (Telegram) without reading the rendered text."""

    severity: Severity
    tickets: tuple[int, ...] = ()
    brands: tuple[str, ...] = ()
    link: str = ""
    """The one-click acknowledge link when the message is about one open ticket, else the
    ticket's page in the console; empty without a console ([web])."""
