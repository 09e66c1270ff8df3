"""Issue keys and idempotency keys: the one place that builds them and reads them back.

They are stored (``mentions.issue_key``, ``tickets.issue_key`` and ``open_key``,
``notices.key``, ``messages.key``), so each format below is a contract with existing
databases: ``tests/test_keys.py`` pins every one of them to the exact string.

Issue keys: what a ticket is about (one unresolved ticket per brand and issue)::

    cat:<category>:<digest>     a category's cluster of complaints (``category_issue``);
                                the digest comes from the first post's identity
    cat:<category>              the same from before clustering (read, never built)
    dup:<fingerprint>           near-duplicate texts without a category
    hot:lists                   the brand on hot lists (热榜), whichever list and topic, without a category
    blind:<source>              a source the monitor can no longer see (brand ``monitor``)
    storm:<scope>               a mention storm, overall (``all``) or on one source
    history:<n>                 the evaluator's stand-in for past mentions (never stored)

    <brand>|<issue key>         ``open_key``: unique while the issue has an unresolved ticket

Idempotency keys: a notice's or message's unique key, which makes "told once" hold
across replays, restarts and replicas::

    ticket-<id>-<kind>-<severity>-<route>[-r<reopens>][-step<n>]   news and nudges for a route
    ticket-<id>-<kind>-owner:<name>-r<reopens>[-step<n>]           the same to the ticket's owner
    ticket-<id>-late-<route>-r<reopens>-<ISO time|new>             a matching route never told
    ticket-<id>-repeat-<route>-<ISO time of the last sent>         an unacknowledged ticket again
    ticket-<id>-escalate-<route>-<step>[-r<reopens>]               one escalation step
    group-<route>-<first notice id>                                several tickets in one message
    digest-<YYYYmmdd-HHMM>                                         one digest slot (local time)
    <key>:chat:<receiver>                                          the same message to a chat receiver
    <key>:rcpt:<address>  (rcpt-<sha256> past 300 characters)      one refused recipient's row

``-r<reopens>`` appears only after a reopening (except for the owner's and the late
keys, which always carry it). Parsing takes the route to be everything between the
fixed parts, so a route name that itself ends in ``-r<n>`` or ``-step<n>`` reads back
with that suffix as a reopening or a step; building is never ambiguous.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CHAT",
    "OWNER",
    "RCPT",
    "IdempotencyKey",
    "IssueKey",
    "IssueKind",
    "KeyForm",
    "blind_issue",
    "category_issue",
    "category_of",
    "category_prefix",
    "chat_key",
    "digest_key",
    "dup_issue",
    "escalation_key",
    "group_message_key",
    "history_issue",
    "hotlist_issue",
    "issue_digest",
    "late_key",
    "news_key",
    "one_complaint",
    "open_key",
    "owner_key",
    "parse_issue_key",
    "parse_key",
    "parse_open_key",
    "recipient_key",
    "recipient_parent",
    "repeat_key",
    "storm_issue",
    "ticket_group",
]

# -- issue keys ------------------------------------------------------------------------


class IssueKind(StrEnum):
    cat = "cat"
    dup = "dup"
    blind = "blind"
    storm = "storm"
    history = "history"
    hot = "hot"


CATEGORY_LIMIT = 150
"""A category is cut to this many characters in its key (the column holds 200)."""


@dataclass(frozen=True, slots=True)
class IssueKey:
    """A parsed issue key: its kind, what it names (category, fingerprint, source,
    scope or number) and, for a clustered category, the first post's digest."""

    kind: IssueKind
    subject: str
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.subject}" + (f":{self.digest}" if self.digest is not None else "")


def issue_digest(platform: str, platform_id: str) -> str:
    """Ten hex digits from a post's identity: the same post starts the same issue in the
    live database and in a replay."""
    return hashlib.blake2b(f"{platform}\x00{platform_id}".encode("utf-8", "replace"), digest_size=5).hexdigest()


def category_issue(category: str, platform: str, platform_id: str) -> str:
    """``cat:<category>:<digest>``, the digest from the issue's first post."""
    return str(IssueKey(IssueKind.cat, category[:CATEGORY_LIMIT], issue_digest(platform, platform_id)))


def dup_issue(fingerprint: str) -> str:
    return str(IssueKey(IssueKind.dup, fingerprint))


def hotlist_issue() -> str:
    """``hot:lists``: the brand trending on 微博热搜, 知乎热榜 … is one issue, whichever list."""
    return str(IssueKey(IssueKind.hot, "lists"))


def blind_issue(source: str) -> str:
    return str(IssueKey(IssueKind.blind, source))


def storm_issue(scope: str) -> str:
    return str(IssueKey(IssueKind.storm, scope))


def history_issue(number: int) -> str:
    return str(IssueKey(IssueKind.history, str(number)))


def parse_issue_key(key: str) -> IssueKey:
    """The parts of an issue key; ValueError for a key of no known kind. A ``cat:`` key
    with two or more colons has a digest after its last one (categories may hold colons)."""
    kind, colon, rest = key.partition(":")
    if not colon or kind not in IssueKind.__members__:
        raise ValueError(f"not an issue key: {key!r}")
    if kind == IssueKind.cat and ":" in rest:
        category, _, digest = rest.rpartition(":")
        return IssueKey(IssueKind.cat, category, digest)
    return IssueKey(IssueKind(kind), rest)


def category_of(issue_key: str) -> str | None:
    """The category of a ``cat:`` issue key (``cat:safety`` from before clustering, or
    ``cat:safety:1a2b3c4d5e``), else None."""
    if not issue_key.startswith("cat:"):
        return None
    return parse_issue_key(issue_key).subject


def open_key(brand: str, issue_key: str) -> str:
    """What the database holds unique while an issue has an unresolved ticket."""
    return f"{brand}|{issue_key}"


def parse_open_key(key: str) -> tuple[str, str]:
    """(brand, issue key); the brand is taken to end at the first ``|``."""
    brand, bar, issue = key.partition("|")
    if not bar:
        raise ValueError(f"not an open key: {key!r}")
    return brand, issue


# -- idempotency keys ------------------------------------------------------------------

OWNER = "owner:"
"""Route-name prefix of an owner's direct messages."""
CHAT = ":chat:"
"""A message's copy for one chat receiver is keyed ``<message key>:chat:<receiver>``."""
RCPT = ":rcpt:"
"""A message's row for one recipient the server refused is keyed ``<message key>:rcpt:<address>``."""
KEY_LIMIT = 300
"""The key columns' length: a longer recipient key is hashed."""


class KeyForm(StrEnum):
    news = "news"
    owner = "owner"
    late = "late"
    repeat = "repeat"
    escalate = "escalate"
    group = "group"
    digest = "digest"


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A parsed notice or message key. Fields a form does not use keep their defaults.

    ``at`` is the late key's last notice time (None: ``new``), the repeat key's last
    sent time, or the digest's slot (local wall time, naive). ``step`` is the ``-step<n>``
    of a step's nudge or the escalation step's number. ``chat`` and ``rcpt`` are the
    receiver or address of a derived message row."""

    form: KeyForm
    ticket_id: int = 0
    kind: str = ""
    severity: str = ""
    route: str = ""
    reopens: int = 0
    step: int | None = None
    at: datetime | None = None
    notice_id: int = 0
    chat: str | None = None
    rcpt: str | None = None

    def __str__(self) -> str:
        return _build(self)


def news_key(ticket_id: int, kind: str, severity: str, route: str, reopens: int = 0, step: int | None = None) -> str:
    """A route's notice of ``kind`` (opened, raised, reopened, reminder, step_overdue)."""
    return str(IdempotencyKey(KeyForm.news, ticket_id, kind, severity, route, reopens, step))


def owner_key(ticket_id: int, kind: str, route: str, reopens: int, step: int | None = None) -> str:
    """The owner's notice; ``route`` is the owner's route name (``owner:<name>``)."""
    return str(IdempotencyKey(KeyForm.owner, ticket_id, kind, route=route, reopens=reopens, step=step))


def late_key(ticket_id: int, route: str, reopens: int, last: datetime | None) -> str:
    """An open ticket announced to a matching route that was never told of it; ``last``
    is its newest notice on that route (None: it had none)."""
    return str(IdempotencyKey(KeyForm.late, ticket_id, "late", route=route, reopens=reopens, at=last))


def repeat_key(ticket_id: int, route: str, sent: datetime) -> str:
    return str(IdempotencyKey(KeyForm.repeat, ticket_id, "repeat", route=route, at=sent))


def escalation_key(ticket_id: int, route: str, step: int, reopens: int = 0) -> str:
    return str(IdempotencyKey(KeyForm.escalate, ticket_id, "escalate", route=route, reopens=reopens, step=step))


def group_message_key(route: str, first_notice: int) -> str:
    """A message that folds several tickets' notices, named by the first notice's id."""
    return str(IdempotencyKey(KeyForm.group, route=route, notice_id=first_notice))


def digest_key(slot: datetime) -> str:
    """The digest of the slot ``slot`` (in the digest's own time zone: its wall time is used)."""
    return str(IdempotencyKey(KeyForm.digest, at=slot))


def chat_key(key: str, receiver: str) -> str:
    return f"{key}{CHAT}{receiver}"


def recipient_key(key: str, address: str) -> str:
    """The unique key of ``key``'s row for one refused recipient (hashed past the column's 300)."""
    full = f"{key}{RCPT}{address}"
    return full if len(full) <= KEY_LIMIT else "rcpt-" + hashlib.sha256(full.encode()).hexdigest()


def recipient_parent(key: str) -> tuple[str, str] | None:
    """(message key, address) of a refused recipient's row, None for any other key
    (and for a hashed one: its parent is not in it)."""
    parent, split, address = key.rpartition(RCPT)
    return (parent, address) if split else None


def ticket_group(ticket_id: int) -> str:
    """The group key of a ticket on a route that does not group: it travels alone."""
    return f"ticket-{ticket_id}"


def _reopened(reopens: int) -> str:
    return f"-r{reopens}" if reopens else ""


def _build(k: IdempotencyKey) -> str:
    step = f"-step{k.step}" if k.step is not None else ""
    match k.form:
        case KeyForm.news:
            key = f"ticket-{k.ticket_id}-{k.kind}-{k.severity}-{k.route}{_reopened(k.reopens)}{step}"
        case KeyForm.owner:
            key = f"ticket-{k.ticket_id}-{k.kind}-{k.route}-r{k.reopens}{step}"
        case KeyForm.late:
            key = f"ticket-{k.ticket_id}-late-{k.route}-r{k.reopens}-{k.at.isoformat() if k.at else 'new'}"
        case KeyForm.repeat:
            assert k.at is not None, "a repeat key names the last sent time"
            key = f"ticket-{k.ticket_id}-repeat-{k.route}-{k.at.isoformat()}"
        case KeyForm.escalate:
            key = f"ticket-{k.ticket_id}-escalate-{k.route}-{k.step}{_reopened(k.reopens)}"
        case KeyForm.group:
            key = f"group-{k.route}-{k.notice_id}"
        case KeyForm.digest:
            assert k.at is not None, "a digest key names its slot"
            key = f"digest-{k.at:%Y%m%d-%H%M}"
    if k.chat is not None:
        key = chat_key(key, k.chat)
    if k.rcpt is not None:
        key = f"{key}{RCPT}{k.rcpt}"
    return key


_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?(?:[+-]\d\d:\d\d(?::\d\d(?:\.\d{6})?)?)?"
_TICKET = re.compile(r"ticket-(?P<id>\d+)-(?P<kind>[^-]+)-(?P<rest>.+)", re.S)
_OWNER = re.compile(rf"(?P<route>{OWNER}.*)-r(?P<r>\d+)(?:-step(?P<step>0|[1-9]\d*))?", re.S)
_NEWS = re.compile(r"(?P<severity>[^-]+)-(?P<route>.+?)(?:-r(?P<r>[1-9]\d*))?(?:-step(?P<step>0|[1-9]\d*))?", re.S)
_LATE = re.compile(rf"(?P<route>.+)-r(?P<r>\d+)-(?P<at>new|{_ISO})", re.S)
_REPEAT = re.compile(rf"(?P<route>.+)-(?P<at>{_ISO})", re.S)
_ESCALATE = re.compile(r"(?P<route>.+)-(?P<step>\d+)(?:-r(?P<r>[1-9]\d*))?", re.S)
_GROUP = re.compile(r"group-(?P<route>.+)-(?P<id>\d+)", re.S)
_DIGEST = re.compile(r"digest-(?P<at>\d{8}-\d{4})")


def parse_key(key: str) -> IdempotencyKey:
    """The parts of a notice or message key; ValueError for a key of no known form
    (including a hashed recipient key)."""
    rcpt = chat = None
    if (split := recipient_parent(key)) is not None:
        key, rcpt = split
    base, found, receiver = key.rpartition(CHAT)
    if found:
        key, chat = base, receiver
    parsed = _parse_base(key)
    if parsed is None:
        raise ValueError(f"not a notice or message key: {key!r}")
    return replace(parsed, chat=chat, rcpt=rcpt)


def _int(text: str | None) -> int:
    return int(text) if text else 0


def _parse_base(key: str) -> IdempotencyKey | None:
    if m := _GROUP.fullmatch(key):
        return IdempotencyKey(KeyForm.group, route=m["route"], notice_id=int(m["id"]))
    if m := _DIGEST.fullmatch(key):
        return IdempotencyKey(KeyForm.digest, at=datetime.strptime(m["at"], "%Y%m%d-%H%M"))
    if (t := _TICKET.fullmatch(key)) is None:
        return None
    ticket_id, kind, rest = int(t["id"]), t["kind"], t["rest"]
    if kind == "late" and (m := _LATE.fullmatch(rest)):
        at = None if m["at"] == "new" else datetime.fromisoformat(m["at"])
        return IdempotencyKey(KeyForm.late, ticket_id, kind, route=m["route"], reopens=int(m["r"]), at=at)
    if kind == "repeat" and (m := _REPEAT.fullmatch(rest)):
        return IdempotencyKey(KeyForm.repeat, ticket_id, kind, route=m["route"], at=datetime.fromisoformat(m["at"]))
    if kind == "escalate" and (m := _ESCALATE.fullmatch(rest)):
        return IdempotencyKey(KeyForm.escalate, ticket_id, kind, route=m["route"], reopens=_int(m["r"]), step=int(m["step"]))
    if rest.startswith(OWNER):
        if m := _OWNER.fullmatch(rest):
            step = m["step"]
            return IdempotencyKey(KeyForm.owner, ticket_id, kind, route=m["route"], reopens=int(m["r"]), step=int(step) if step else None)
        return None
    if m := _NEWS.fullmatch(rest):
        step = m["step"]
        return IdempotencyKey(KeyForm.news, ticket_id, kind, m["severity"], m["route"], _int(m["r"]), int(step) if step else None)
    return None


def one_complaint(issue_key: str) -> bool:
    """Does the key name one complaint (near-duplicates, or one cluster of a category),
    rather than a whole category from before clustering, a storm or a source?"""
    try:
        parsed = parse_issue_key(issue_key)
    except ValueError:
        return False
    return parsed.kind == IssueKind.dup or (parsed.kind == IssueKind.cat and parsed.digest is not None)


def category_prefix(category: str) -> str:
    """``cat:<category>``: the key of a category from before clustering, and with a colon
    after it the start of each of its clusters' keys (for a query)."""
    return str(IssueKey(IssueKind.cat, category))
