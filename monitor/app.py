"""Everything built in one place and passed down: no module-level engines, schedulers,
tokenizers or clients. ``App`` is what the daemon, ``poll`` and ``demo`` drive."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, select, update

from alerts import Channel, MaildirChannel, Renderer, SmtpChannel, SmtpSettings
from alerts.chat import make_chat_channel
from alerts.ratelimit import DEFAULT_RATES, RateLimiter
from monitor.clock import Clock, utcnow
from monitor.config import Config
from monitor.delivery.links import LinkSigner
from monitor.delivery.notify import Notifier
from monitor.delivery.outbox import Courier, DeliveryReport
from monitor.detect.matching import Matcher, TokenizerFactory
from monitor.ingest.health import SourceHealth, settings_scope
from monitor.ingest.pipeline import IngestReport, Pipeline
from monitor.ingest.tracking import refs_to_reread
from monitor.metrics import Metrics
from monitor.report.digest import queue_digest
from monitor.storage.db import Writer, read_session_factory, session_factory
from monitor.storage.leases import Leases
from monitor.storage.models import NoticeRow, PostRow, SourceStateRow
from monitor.storage.retention import PruneReport, prune
from monitor.storage.states import NoticeStatus
from monitor.tickets.desk import IncidentDesk
from sources import PoliteHttp, Post, ResponseError, Source, SourceContext, SourceError

log = logging.getLogger("monitor")
DEFAULT_SENDER = "Brand monitor <monitor@localhost>"
BLIND_RECHECK = timedelta(minutes=10)
"""How often a source that keeps working is checked for a "blind" ticket left to resolve."""


def _as_source_error(source: Source, exc: Exception) -> SourceError:
    """A plug-in's bug is that source failing, not the poll cycle crashing: it shows in
    `monitor sources`, can raise a "blind" ticket, and its traceback goes to the debug log."""
    if isinstance(exc, SourceError):
        return exc
    log.debug("source %s: unexpected %s", source.name, exc.__class__.__name__, exc_info=exc)
    return ResponseError(f"{source.describe()} failed unexpectedly ({exc.__class__.__name__}: {exc}); a bug in the source")


def make_channel(config: Config) -> Channel:
    """SMTP when ``[alerts.email]`` is configured, else .eml files in ``[monitor].outbox``."""
    email = config.email
    if email is None:
        return MaildirChannel(config.monitor.outbox)
    return SmtpChannel(
        SmtpSettings(
            host=email.host,
            port=email.port,
            starttls=email.starttls,
            ssl=email.ssl,
            username=email.username,
            password=email.password(),
            timeout=email.timeout.total_seconds(),
        )
    )


def make_link_signer(config: Config, secret: bytes | None = None) -> LinkSigner | None:
    """Signs the console links in alert mail: with ``[web]`` and a secret (the environment's,
    or the one a daemon made up for itself when none is set)."""
    if config.web is None:
        return None
    secret = secret or (config.web.secret() or "").encode("utf-8")
    return LinkSigner(secret, config.web.base_url, config.web.link_ttl) if secret else None


def make_notifier(config: Config, link_secret: bytes | None = None) -> Notifier:
    """The route → group → notify stages for a config (the daemon's, or a CLI command's)."""
    return Notifier(
        config.routes,
        Renderer(config.monitor.timezone),
        config.monitor.timezone,
        config.tickets.working_hours,
        config.people,
        ack_command=f"monitor -c {config.path} tickets ack {{id}}",
        playbooks=config.playbooks,
        links=make_link_signer(config, link_secret),
    )


def make_chat_channels(config: Config, client: httpx.Client) -> dict[str, Channel]:
    return {
        name: make_chat_channel(chat.kind, name, chat.resolved_url(), client, secret=chat.secret(), timeout=chat.timeout.total_seconds())
        for name, chat in config.chat.items()
    }


def make_limits(config: Config, current: Mapping[str, RateLimiter] | None = None) -> dict[str, RateLimiter]:
    """Each channel's pace: the configured ``rate``, else the platform's documented limit.
    A limiter whose rate did not change is kept, so saving config.toml does not reset
    DingTalk's 20-a-minute window."""
    wanted: dict[str, str] = {}
    if config.email is not None and config.email.rate is not None:
        wanted["email"] = str(config.email.rate)
    for name, chat in config.chat.items():
        rate = chat.rate or DEFAULT_RATES.get(chat.kind)
        if rate is not None:
            wanted[name] = str(rate)
    current = current or {}
    return {
        name: current[name] if name in current and repr(current[name]) == repr(RateLimiter(rate)) else RateLimiter(rate)
        for name, rate in wanted.items()
    }


@dataclass(frozen=True)
class _Parts:
    """What is rebuilt on each config (re)load, swapped in as one unit."""

    config: Config
    pipeline: Pipeline
    desk: IncidentDesk
    notifier: Notifier
    courier: Courier
    sources: Mapping[str, Source]
    every: Mapping[str, timedelta]


class App:
    def __init__(
        self,
        config: Config,
        *,
        engine: Engine,
        http: PoliteHttp,
        kinds: Mapping[str, type[Source]],
        clock: Clock = utcnow,
        tokenizers: TokenizerFactory | None = None,
        channel: Channel | None = None,
        chat_client: httpx.Client | None = None,
        metrics: Metrics | None = None,
        replica: str | None = None,
        link_secret: bytes | None = None,
    ) -> None:
        self.engine = engine
        self.link_secret = link_secret
        self.sessions = session_factory(engine)
        self.read_sessions = read_session_factory(engine)
        self.http = http
        self.kinds = kinds
        self.clock = clock
        self.tokenizers = tokenizers or TokenizerFactory()
        self.tokenizers.preload()  # jieba's dictionary loads meanwhile; a poll waits only for a post that needs it
        self._channel_override = channel
        self._own_chat_client = chat_client is None
        self.chat_client = chat_client or httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False, trust_env=True)
        """Chat webhooks get their own client: a slow robot never holds a source's slot."""
        self.metrics = metrics
        self.writer = Writer(self.sessions)
        """Every write of this process goes through it (SQLite has one writer at a time)."""
        self.write_lock = self.writer.lock
        """The writer's lock: the console's changes take it too, and a clean stop waits for it."""
        self.leases = Leases(self.writer, clock, replica, read_sessions=self.read_sessions)
        self.health: dict[str, SourceHealth] = {}
        self.stopping = threading.Event()
        self._limits: Mapping[str, RateLimiter] = {}
        self._known_sources: set[str] = set()
        self._blind_checked: dict[str, datetime] = {}
        """When each healthy source was last checked for a "blind" ticket to resolve."""
        self._parts = self._build(config)
        self._limits = self._parts.courier.limits
        self._sync_health()

    # -- configuration ------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._parts.config

    @property
    def sources(self) -> Mapping[str, Source]:
        return self._parts.sources

    @property
    def notifier(self) -> Notifier:
        return self._parts.notifier

    def _build(self, config: Config) -> _Parts:
        matcher = Matcher(config.brands, config.crisis, self.tokenizers.deferred())
        notifier = make_notifier(config, self.link_secret)
        desk = IncidentDesk(config, notifier)
        pipeline = Pipeline(self.writer, config, matcher, desk, self.clock)
        channels = {"email": self._channel_override or make_channel(config), **make_chat_channels(config, self.chat_client)}
        courier = Courier(
            self.writer, channels, config.email.sender if config.email else DEFAULT_SENDER, self.clock,
            read_sessions=self.read_sessions,
            limits=make_limits(config, self._limits),
            on_first_alert=self.metrics.alert_latency.observe if self.metrics else None,
        )
        self._configure_http(config)
        context = SourceContext(http=self.http, timezone=config.monitor.timezone, logger=logging.getLogger("sources"))
        sources = {s.name: self.kinds[s.kind](s.name, s.settings, dataclasses.replace(context, http=self.http.with_secrets(*s.secrets()))) for s in config.sources}
        return _Parts(config, pipeline, desk, notifier, courier, sources, {s.name: s.every for s in config.sources})

    def _configure_http(self, config: Config) -> None:
        """The shared client honours a host's Retry-After no longer than the config allows
        (set before the sources' views of it are made: they copy its policy)."""
        most = config.monitor.max_retry_after.total_seconds()
        if self.http.policy.max_retry_after != most:
            self.http.policy = dataclasses.replace(self.http.policy, max_retry_after=most)

    def _sync_health(self) -> None:
        """One health record per configured source, carried over from the database across
        restarts; a renamed or re-kinded source starts afresh."""
        with self.read_sessions() as session:
            stored = {row.name: row for row in session.scalars(select(SourceStateRow))}
        changed: list[SourceHealth] = []
        for name, source in self.sources.items():
            health = self.health.get(name)
            scope = settings_scope(source.kind, source.settings)
            if health is None or health.kind != source.kind:
                health = self.health[name] = SourceHealth.restore(name, source.kind, stored.get(name), scope)
            elif health.scope != scope:  # pointed elsewhere: what the old address said no longer holds
                health.scope, health.retry_at = scope, None
                changed.append(health)
            if health.cap_wait(self.clock(), self.config.monitor.max_retry_after):
                changed.append(health)  # stored cut, so a replica taking the source over reads the cut wait
        removed = set(self.health) - set(self.sources)
        for gone in removed:
            del self.health[gone]
        # keyed by source name like ``health``: a source renamed or removed by a reload
        # must not leave its entries behind for the life of the process
        for gone in set(self._blind_checked) - set(self.sources):
            del self._blind_checked[gone]
        self._known_sources.intersection_update(self.sources)
        self.leases.forget(sorted(f"source:{gone}" for gone in removed))
        with self.writer.session() as session:  # nobody fixes a source that is no longer there
            for health in changed:
                health.save(session)
            for name in set(self._parts.desk.blind_sources(session)) - set(self.sources):
                self._parts.desk.source_recovered(session, name, self.clock(), "was removed from the config")
            session.commit()

    def _record(self, health: SourceHealth) -> None:
        """Persist a source's health; a source failing for ``blind_after`` raises a ticket."""
        parts = self._parts
        with self.writer.session() as session:
            now = self.clock()
            health.save(session)
            checked = self._blind_checked.get(health.name)
            if health.failing_since is not None:
                self._blind_checked.pop(health.name, None)
                if now - health.failing_since >= parts.config.monitor.blind_after:
                    parts.desk.source_blind(session, health.name, health.failing_since, health.last_error, now)
            elif checked is None or not timedelta(0) <= now - checked < BLIND_RECHECK:
                # a source healthy since the last look has no "blind" ticket to resolve: look
                # again only now and then (another replica may have raised one), not every poll
                parts.desk.source_recovered(session, health.name, now)
                checked = now
            session.commit()
        if health.failing_since is None and checked is not None:
            self._blind_checked[health.name] = checked

    def apply(self, config: Config) -> IngestReport:
        """Apply a new config's keywords to posts fetched within ``track_for``, then swap it
        in. If anything fails on the way, the running config stays as it was."""
        parts = self._build(config)
        report = parts.pipeline.rematch_recent()
        self._parts = parts
        self._limits = parts.courier.limits
        self._sync_health()
        if report.tickets:
            log.info("config reload: recent posts re-matched, %d ticket(s) touched", len(report.tickets))
        return report

    # -- the cycle ----------------------------------------------------------------------

    def poll(self, name: str, next_poll: datetime | None = None) -> IngestReport | Elsewhere | None:
        """One round of one source: fetch, re-read tracked posts, ingest. Never raises
        SourceError. ``Elsewhere`` when another replica holds the source's lease."""
        started = time.monotonic()
        elsewhere = self._lease_source(name)
        if elsewhere is not None:
            return elsewhere
        report = self._poll(name, next_poll)
        if self.metrics is not None and name in self.health:
            health = self.health[name]
            outcome = "ok" if report is not None else ("waiting" if health.waiting(self.clock()) else "failed")
            self.metrics.polls.labels(name, outcome).inc()
            self.metrics.poll_seconds.labels(name).observe(time.monotonic() - started)
            if report is not None:
                self.metrics.posts.labels(name).inc(report.new_posts)
                self.metrics.mentions.labels(name).inc(report.mentions)
        return report

    def _lease_source(self, name: str) -> Elsewhere | None:
        """Take (or renew) the source's lease for one interval plus ``lease_grace``; a
        source taken over from a replica that stopped renewing starts from the health
        that replica stored."""
        parts = self._parts
        every = parts.every.get(name)
        if every is None:
            return None
        taken = self.leases.acquire(f"source:{name}", every + parts.config.monitor.lease_grace)
        if taken is None:
            return Elsewhere(name)
        if taken.previous_owner is not None and name in self.health:
            log.info("source %s: taken over from replica %s", name, taken.previous_owner)
            self._blind_checked.pop(name, None)
            with self.read_sessions() as session:
                self.health[name] = SourceHealth.restore(name, self.health[name].kind, session.get(SourceStateRow, name), self.health[name].scope)
                self.health[name].cap_wait(self.clock(), parts.config.monitor.max_retry_after)
        return None

    def _poll(self, name: str, next_poll: datetime | None) -> IngestReport | None:
        parts = self._parts
        source = parts.sources.get(name)
        if source is None or self.stopping.is_set():
            return None
        health = self.health[name]
        health.next_poll = next_poll
        max_wait = parts.config.monitor.max_retry_after
        if health.waiting(self.clock()):
            # told to wait (Retry-After), possibly before a restart: not a new failure, but a
            # source we may not poll is still failing, and past blind_after we are blind
            self._record(health)
            return None
        try:
            posts = source.fetch()
        except Exception as exc:
            health.failed(self.clock(), _as_source_error(source, exc), max_wait)
            self._record(health)
            return None
        posts += self._refresh(source, {p.id for p in posts})
        if self.stopping.is_set():
            return None
        # a source's first poll is its first successful one, empty or not: what a new feed
        # already holds then is backlog; once it has answered, every new item is news
        first_poll = bool(posts) and health.last_success is None and not self._has_posts(name)
        report = parts.pipeline.ingest(name, posts, first_poll=first_poll)
        source.commit()
        health.succeeded(self.clock(), report.posts, report.new_posts, len(report.tickets))
        self._record(health)
        return report

    def _has_posts(self, source: str) -> bool:
        """Has this source ever yielded a post (is this not its first poll)? Asked once
        per source: after the first yes, the answer does not change."""
        if source in self._known_sources:
            return True
        with self.read_sessions() as session:
            found = session.scalar(select(PostRow.id).where(PostRow.source == source).limit(1)) is not None
        if found:
            self._known_sources.add(source)
        return found

    def _refresh(self, source: Source, fresh_ids: set[str]) -> list[Post]:
        if not source.refresh_batch:
            return []
        with self.read_sessions() as session:
            refs = refs_to_reread(session, source.name, source.refresh_batch, fresh_ids, self.clock(), self.config.scoring.track_for)
        if not refs:
            return []
        try:
            posts = source.refresh(refs)
        except Exception as exc:
            log.warning("source %s: re-reading %d tracked post(s) failed: %s", source.name, len(refs), _as_source_error(source, exc))
            return []
        gone = set(refs) - {p.ref for p in posts}
        if gone:  # deleted or hidden since: stop asking, or they would crowd out live posts
            with self.writer.session() as session:
                session.execute(update(PostRow).where(PostRow.source == source.name, PostRow.ref.in_(gone)).values(ref=""))
                session.commit()
        return posts

    def poll_all(self) -> dict[str, IngestReport | Elsewhere | None]:
        return {name: self.poll(name) for name in list(self.sources)}

    def quiesce(self, timeout: float = 10.0) -> None:
        """Stop new ingests; wait (bounded) for a running ingest to commit and for a
        message being handed to the mail server to be recorded as sent."""
        self.stopping.set()
        for lock in (self.write_lock, self._parts.courier.sending):
            if lock.acquire(timeout=timeout):
                lock.release()

    def close(self) -> None:
        """Hand back this replica's leases at once, and release what the app opened itself
        (the chat client); the caller owns the rest."""
        try:
            self.leases.release_all()
        except Exception as exc:  # a database that is gone: the leases simply expire
            log.warning("could not release leases: %s", exc)
        if self._own_chat_client:
            self.chat_client.close()

    def deliver(self) -> DeliveryReport:
        """Fold due notices into messages, then hand due messages to their channels."""
        self.dispatch()
        return self._parts.courier.deliver_due()

    def dispatch(self) -> int:
        parts = self._parts
        now = self.clock()
        with self.read_sessions() as session:  # the common case, nothing due, takes no write lock
            due = session.scalar(select(NoticeRow.id).where(NoticeRow.status == NoticeStatus.pending, NoticeRow.due_at <= now).limit(1))
        if due is None:
            return 0
        with self.writer.session() as session:
            told = parts.notifier.flush_due(session, self.clock())
            session.commit()
        return told

    def prune(self) -> PruneReport:
        """Retention: old unmatched posts and old snapshots of posts outside tickets go."""
        parts = self._parts
        if self.leases.acquire("job:prune", timedelta(hours=7)) is None:
            return PruneReport(0, 0)  # another replica prunes
        scoring = parts.config.scoring
        with self.writer.session() as session:
            report = prune(session, self.clock(), parts.config.monitor.keep, max(scoring.track_for, scoring.volume_window, scoring.velocity_window))
            session.commit()
        if report.posts or report.snapshots:
            log.info("retention: pruned %d unmatched post(s) and %d engagement snapshot(s) older than %s", report.posts, report.snapshots, parts.config.monitor.keep)
        return report

    def repeat(self) -> int:
        """Only the repeats of unacknowledged tickets, for routes whose ``repeat_interval``
        is shorter than the clocks' minute; on the replica that runs the clocks."""
        parts = self._parts
        if self.leases.acquire("job:clocks", timedelta(minutes=3)) is None:
            return 0
        with self.writer.session() as session:
            repeats = parts.notifier.repeat(session, self.clock())
            session.commit()
        return repeats

    def remind(self) -> Clocks:
        """The clocks: reminders, repeats of unacknowledged tickets, escalations, the digest."""
        parts = self._parts
        if self.leases.acquire("job:clocks", timedelta(minutes=3)) is None:
            return Clocks()  # another replica runs the clocks: each reminder and escalation once
        with self.writer.session() as session:
            now = self.clock()
            clocks = Clocks(
                parts.desk.remind_due(session, now),
                parts.notifier.repeat(session, now),
                parts.notifier.escalate(session, now),
                parts.config.digest is not None and queue_digest(session, parts.config.digest, parts.config.monitor.timezone, now),
                parts.desk.steps_overdue(session, now),
                parts.desk.follow_up_due(session, now),
                parts.desk.storms(session, now),
            )
            session.commit()
        return clocks


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """A poll skipped because another replica holds the source."""

    source: str


@dataclass(frozen=True, slots=True)
class Clocks:
    reminders: int = 0
    repeats: int = 0
    escalations: int = 0
    digest: bool = False
    overdue_steps: int = 0
    follow_ups: int = 0
    storms: int = 0
