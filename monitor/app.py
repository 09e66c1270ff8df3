"""Everything built in one place and passed down: no module-level engines, schedulers,
tokenizers or clients. ``App`` is what the daemon, ``poll`` and ``demo`` drive: it builds
the parts of a config (matcher, desk, pipeline, notifier, courier, sources), swaps them in
as one unit on reload, and hands them to the poller (``ingest.poller``) and the jobs
(``jobs``), which do the work."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine

import httpdeadline
from alerts import Channel
from alerts.ratelimit import RateLimiter
from monitor.clock import Clock, utcnow
from monitor.config import Config
from monitor.delivery.channels import DEFAULT_SENDER, make_channel, make_chat_channels, make_limits, make_notifier
from monitor.delivery.notify import Notifier
from monitor.delivery.outbox import Courier, DeliveryReport
from monitor.detect.matching import Matcher, TokenizerFactory
from monitor.ingest.health import SourceHealth
from monitor.ingest.pipeline import IngestReport, Pipeline
from monitor.ingest.poller import Elsewhere, Poller
from monitor.jobs import Clocks, Jobs
from monitor.metrics import Metrics
from monitor.storage.db import Writer, read_session_factory, session_factory
from monitor.storage.leases import Leases
from monitor.storage.memory import SourceMemory
from monitor.storage.retention import PruneReport
from monitor.tickets.desk import IncidentDesk
from sources import PoliteHttp, Source, SourceContext
from sources.stream import StreamSource

__all__ = ["App", "Clocks", "Elsewhere"]
log = logging.getLogger("monitor")


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
    contexts: Mapping[str, SourceContext]
    """Each source's context for this config: a stream kept across a reload is handed its
    new one (the new keywords' ``wanted``) when the parts are swapped in."""
    shapes: Mapping[str, object]
    """What each source was built from (kind, options, secrets): a stream whose shape a
    reload leaves unchanged keeps its connection."""


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
        # each of its transports (direct, or a proxy's from the environment) holds a request
        # to the deadline a send sets (alerts._http.post)
        self.chat_client = chat_client or httpdeadline.client(timeout=httpx.Timeout(10.0), follow_redirects=False)
        """Chat webhooks get their own client: a slow robot never holds a source's slot."""
        self.metrics = metrics
        self.writer = Writer(self.sessions)
        """Every write of this process goes through it (SQLite has one writer at a time)."""
        self.write_lock = self.writer.lock
        """The writer's lock: the console's changes take it too, and a clean stop waits for it."""
        self.leases = Leases(self.writer, clock, replica, read_sessions=self.read_sessions)
        self.stopping = threading.Event()
        self.memory = SourceMemory(self.writer, self.read_sessions, clock)
        """What sources keep across restarts (a stream's cursor): ``SourceContext.store``."""
        self._limits: Mapping[str, RateLimiter] = {}
        self._parts: _Parts | None = None
        self._parts = self._build(config)
        self._limits = self._parts.courier.limits
        self.poller = Poller(self._current, writer=self.writer, read_sessions=self.read_sessions, leases=self.leases, clock=clock, stopping=self.stopping, metrics=metrics)
        self.jobs = Jobs(self._current, writer=self.writer, read_sessions=self.read_sessions, leases=self.leases, clock=clock)
        self.poller.sync()

    @property
    def config(self) -> Config:
        return self._current().config

    @property
    def sources(self) -> Mapping[str, Source]:
        return self._current().sources

    @property
    def notifier(self) -> Notifier:
        return self._current().notifier

    @property
    def health(self) -> dict[str, SourceHealth]:
        return self.poller.health

    def _current(self) -> _Parts:
        """The parts as they are now: the poller and the jobs read them at each step."""
        assert self._parts is not None
        return self._parts

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
            links=notifier.links,
        )
        self._configure_http(config)
        context = SourceContext(
            http=self.http, timezone=config.monitor.timezone, logger=logging.getLogger("sources"), wanted=matcher.may_mention, store=self.memory,
            clock=self.clock, track_for=config.scoring.track_for,
        )
        running = self._parts
        sources: dict[str, Source] = {}
        contexts: dict[str, SourceContext] = {}
        shapes: dict[str, object] = {}
        for s in config.sources:
            contexts[s.name] = dataclasses.replace(context, http=self.http.with_secrets(*s.secrets()))
            shapes[s.name] = (s.kind, s.settings, s.secrets())
            old = None if running is None else running.sources.get(s.name)
            if isinstance(old, StreamSource) and running is not None and running.shapes.get(s.name) == shapes[s.name]:
                sources[s.name] = old  # a reload that leaves a stream as it was keeps its connection
            else:  # built, not started: a stream connects at its first fetch, so a reload that fails leaks nothing
                sources[s.name] = self.kinds[s.kind](s.name, s.settings, contexts[s.name])
        return _Parts(config, pipeline, desk, notifier, courier, sources, {s.name: s.every for s in config.sources}, contexts, shapes)

    def _configure_http(self, config: Config) -> None:
        """The shared client honours a host's Retry-After no longer than the config allows
        (set before the sources' views of it are made: they copy its policy)."""
        most = config.monitor.max_retry_after.total_seconds()
        if self.http.policy.max_retry_after != most:
            self.http.policy = dataclasses.replace(self.http.policy, max_retry_after=most)

    def apply(self, config: Config) -> IngestReport:
        """Apply a new config's keywords to posts fetched within ``track_for``, then swap it
        in. If anything fails on the way, the running config stays as it was."""
        parts = self._build(config)
        report = parts.pipeline.rematch_recent()
        running, self._parts = self._parts, parts
        self._limits = parts.courier.limits
        for name, source in parts.sources.items():
            source.context = parts.contexts[name]
        if running is not None:
            kept = {id(source) for source in parts.sources.values()}
            _close_all(source for source in running.sources.values() if id(source) not in kept)
        self.poller.sync()
        if report.tickets:
            log.info("config reload: recent posts re-matched, %d ticket(s) touched", len(report.tickets))
        return report

    # -- the work, done by the poller and the jobs ------------------------------------------

    def poll(self, name: str, next_poll: datetime | None = None) -> IngestReport | Elsewhere | None:
        return self.poller.poll(name, next_poll)

    def poll_all(self) -> dict[str, IngestReport | Elsewhere | None]:
        return self.poller.poll_all()

    def deliver(self) -> DeliveryReport:
        return self.jobs.deliver()

    def dispatch(self) -> int:
        return self.jobs.dispatch()

    def prune(self) -> PruneReport:
        return self.jobs.prune()

    def repeat(self) -> int:
        return self.jobs.repeat()

    def remind(self) -> Clocks:
        return self.jobs.remind()

    # -- stopping ---------------------------------------------------------------------------

    def quiesce(self, timeout: float = 10.0) -> None:
        """Stop new ingests; wait (bounded) for a running ingest to commit and for a
        message being handed to the mail server to be recorded as sent."""
        self.stopping.set()
        for lock in (self.write_lock, self._current().courier.sending):
            if lock.acquire(timeout=timeout):
                lock.release()

    def close(self) -> None:
        """Hand back this replica's leases at once, and release what the app opened itself
        (the chat client); the caller owns the rest."""
        if self._parts is not None:
            _close_all(self._parts.sources.values())
        try:
            self.leases.release_all()
        except Exception as exc:  # a database that is gone: the leases simply expire
            log.warning("could not release leases: %s", exc)
        if self._own_chat_client:
            self.chat_client.close()


def _close_all(sources: Iterable[Source]) -> None:
    """Release what each source holds open (a stream's connection and thread); one that
    fails to close is logged and the rest are still closed."""
    for source in sources:
        try:
            source.close()
        except Exception as exc:  # one source's trouble stays in that source
            log.warning("source %s: could not be closed: %s: %s", source.name, exc.__class__.__name__, exc)
