"""The database schema (SQLAlchemy 2.x ORM). Changes go through an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from monitor.storage.states import DemandStatus, MessageStatus, NoticeStatus, TicketStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the column: identical on SQLite and PostgreSQL,
    and a naive datetime is refused rather than silently taken as local time."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class PostRow(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("platform", "platform_id", name="uq_posts_platform_id"),
        Index("ix_posts_repost_of", "platform", "repost_of"),
        # a source's recent posts: what a hot list had listed (at every start, reload and
        # take-over) and what a poll re-reads, without scanning every source's posts
        Index("ix_posts_source_seen", "source", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    matched: Mapped[bool] = mapped_column(default=False)
    repost_of: Mapped[str] = mapped_column(String(1024), default="")
    """The platform id of the post this one reposts or quotes (``Post.repost_of``); empty when none."""
    author_followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The author's followers when the platform says (author reach weighs on severity)."""
    author_kind: Mapped[str] = mapped_column(String(40), default="")
    """The author's verified kind (``media``, ``government`` …), empty for an ordinary account."""

    snapshots: Mapped[list[SnapshotRow]] = relationship(back_populates="post", order_by="SnapshotRow.at")


class SnapshotRow(Base):
    """One engagement reading; a new row only when a counter changed."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_post_at", "post_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reposts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comments: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """A hot list's rank of the topic at this reading (1 at the top); None elsewhere."""
    heat: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """A hot list's heat (热度) of the topic at this reading."""

    post: Mapped[PostRow] = relationship(back_populates="snapshots")

    @property
    def total(self) -> int:
        return (self.reposts or 0) + (self.comments or 0) + (self.likes or 0)


class MentionRow(Base):
    """A post that names a brand: counted, and the unit issues and volume are made of."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("post_id", "brand", name="uq_mentions_post_brand"),
        Index("ix_mentions_issue", "brand", "issue_key", "seen_at"),
        Index("ix_mentions_spread_of", "spread_of"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    brand: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    terms: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    """Crisis terms found, by category."""
    issue_key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(16))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tokens: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """The text's content words (jieba, brand names and stop words left out): what the
    clustering of one category's complaints into issues compares. NULL on rows stored
    before it existed (computed again when needed)."""
    spread_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """For a repost or quote of a post already mentioned: the original's mention. It
    joins that issue and counts toward its spread, never as a complaint of its own."""

    post: Mapped[PostRow] = relationship()


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(String(200))
    issue_key: Mapped[str] = mapped_column(String(200), index=True)
    open_key: Mapped[str | None] = mapped_column(String(420), unique=True, nullable=True)
    """brand + issue while the ticket is not resolved, NULL after: the database itself
    refuses a second open ticket for one issue (portable, unlike partial indexes)."""
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.open, index=True)
    severity: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Who answers for the ticket (``tickets assign``); reminders and reopenings go to them."""
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    """How often it was reopened: each reopening starts its clocks (escalation, reminder) afresh."""
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    team: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The owning team from the responsibility matrix (``[[owners]]``)."""
    resolution: Mapped[str] = mapped_column(Text, default="")
    """How it was resolved (``tickets resolve --note``): what ``monitor cases search`` finds."""
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """After resolving: when to look again whether the case flares up."""

    posts: Mapped[list[TicketPostRow]] = relationship(order_by="TicketPostRow.joined_at", cascade="all, delete-orphan")
    events: Mapped[list[EventRow]] = relationship(order_by="EventRow.id", cascade="all, delete-orphan")
    steps: Mapped[list[StepRow]] = relationship(order_by="StepRow.number", cascade="all, delete-orphan")
    demands: Mapped[list[DemandRow]] = relationship(order_by="DemandRow.number", cascade="all, delete-orphan")


class StepRow(Base):
    """A playbook step on a ticket's checklist, with its deadline from the ticket's opening."""

    __tablename__ = "ticket_steps"
    __table_args__ = (UniqueConstraint("ticket_id", "number", name="uq_ticket_steps_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When it was found overdue (and the owner reminded, once)."""


class DemandRow(Base):
    """One thing the customer asked for (refund, apology, fix): the case is not resolved
    while one is open."""

    __tablename__ = "demands"
    __table_args__ = (UniqueConstraint("ticket_id", "number", name="uq_demands_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DemandStatus.open)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by: Mapped[str] = mapped_column(String(200), default="")


class TicketPostRow(Base):
    __tablename__ = "ticket_posts"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)

    post: Mapped[PostRow] = relationship()


class EventRow(Base):
    """The ticket timeline: opened, post_joined, severity_raised, assigned, note,
    acknowledged, resolved, reopened, message_queued, message_sent, message_failed,
    message_rejected (refused for good, not retried), silenced, escalated, reminder."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="monitor")


class MessageRow(Base):
    """The outbox: written in the same transaction as the decision to send it, delivered
    later with retries. ``key`` is unique, so the same message is never queued twice.

    ``channel`` is ``email`` or the name of an ``[alerts.chat.*]`` receiver. A message
    may cover several tickets (a group); ``ticket_id`` is set when it covers exactly one."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True, nullable=True)
    ticket_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    route: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200), default="email")
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300), index=True)
    in_reply_to: Mapped[str] = mapped_column(String(300), default="")
    """The ticket's thread root for this route, so a mail client shows one conversation per ticket."""
    images: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """Inline images (content id → base64 PNG), e.g. the digest's chart."""
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.queued)
    """``queued`` (waiting or retrying), ``sending`` (claimed), ``sent``, or ``failed``
    (refused for good by the server: not retried)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NoticeRow(Base):
    """Something a route must be told about a ticket (opened, raised, reopened, repeat,
    reminder), waiting for its group's next message. Pacing decides ``due_at``; the
    dispatcher folds every pending notice of a group into one message."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_pending", "status", "due_at"),
        Index("ix_notices_route_ticket", "route", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    route: Mapped[str] = mapped_column(String(200))
    group_key: Mapped[str] = mapped_column(String(500))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    previous_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=NoticeStatus.pending)
    """pending → sent (folded into a message), silenced, superseded (by a later notice of
    the same ticket), or dropped (acknowledged or closed before the nudge was due)."""
    message_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When its message was queued: repeats count from here."""


class AlertGroupRow(Base):
    """When each route's group was last told, for ``group_interval``."""

    __tablename__ = "alert_groups"

    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    last_flush_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SilenceRow(Base):
    """``monitor silence add``: matching tickets are raised and recorded but not sent."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str | None] = mapped_column(String(200), nullable=True)
    term: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")


class ThreadRow(Base):
    """The first email a route sent about a ticket, which later ones answer (In-Reply-To),
    whether it was about that ticket alone or a group."""

    __tablename__ = "threads"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    thread: Mapped[str] = mapped_column(String(250), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300))


class LeaseRow(Base):
    """Who does a piece of shared work (``source:<name>``, ``job:clocks``) until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(250), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SourceStateRow(Base):
    """Each source's health, written after every poll so `monitor sources` (another
    process) can show it, and so "we are blind on X" survives a restart."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    posts_seen: Mapped[int] = mapped_column(BigInteger, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The platform said "not before" (429/418 Retry-After): honoured across restarts."""
    retry_scope: Mapped[str] = mapped_column(String(64), default="")
    """The source settings ``retry_at`` was said to (``health.settings_scope``): a source
    pointed elsewhere does not wait for what another address said."""
    stream: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """A stream source's status at its last poll (``sources.stream.StreamStatus``): connected,
    lag, events per second, reconnects; None for a polled source."""


class SourceMemoryRow(Base):
    """What a source keeps across restarts (``sources.SourceStore``): a stream's cursor and
    the counters of the posts it follows, as one JSON document per source name."""

    __tablename__ = "source_memory"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    data: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    """A console user (``monitor users add``): a password hash, never the password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    """Signed into every session cookie; a new password raises it, ending every session."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class UsedLinkRow(Base):
    """A signed one-click link that has been used: each works once, across replicas."""

    __tablename__ = "used_links"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
