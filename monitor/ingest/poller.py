"""The poll loop: one round of one source. Its lease (one replica polls a source), the
fetch and the re-read of tracked posts, the ingest, and the health bookkeeping around
them: failures, Retry-After waits, and the "blind" ticket of a source failing too long."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.config import Config
from monitor.ingest.health import SourceHealth, settings_scope
from monitor.ingest.pipeline import IngestReport, Pipeline
from monitor.ingest.tracking import refs_to_reread
from monitor.metrics import Metrics
from monitor.storage.db import Writer
from monitor.storage.leases import Leases
from monitor.storage.memory import forget_others
from monitor.storage.models import PostRow, SourceStateRow
from monitor.storage.posts import still_listed
from monitor.tickets.desk import IncidentDesk
from sources import Post, ResponseError, Source, SourceError
from sources.stream import StreamSource

log = logging.getLogger("monitor")
BLIND_RECHECK = timedelta(minutes=10)
"""How often a source that keeps working is checked for a "blind" ticket left to resolve."""


class Polling(Protocol):
    """The running configuration's parts as a poll uses them (the app's, swapped as one
    unit on reload): each step reads them once, so it never mixes two configs."""

    @property
    def config(self) -> Config: ...
    @property
    def pipeline(self) -> Pipeline: ...
    @property
    def desk(self) -> IncidentDesk: ...
    @property
    def sources(self) -> Mapping[str, Source]: ...
    @property
    def every(self) -> Mapping[str, timedelta]: ...


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """A poll skipped because another replica holds the source."""

    source: str


def _as_source_error(source: Source, exc: Exception) -> SourceError:
    """A plug-in's bug is that source failing, not the poll cycle crashing: it shows in
    `monitor sources`, can raise a "blind" ticket, and its traceback goes to the debug log."""
    if isinstance(exc, SourceError):
        return exc
    log.debug("source %s: unexpected %s", source.name, exc.__class__.__name__, exc_info=exc)
    return ResponseError(f"{source.describe()} failed unexpectedly ({exc.__class__.__name__}: {exc}); a bug in the source")


class Poller:
    def __init__(
        self,
        parts: Callable[[], Polling],
        *,
        writer: Writer,
        read_sessions: sessionmaker[Session],
        leases: Leases,
        clock: Clock,
        stopping: threading.Event,
        metrics: Metrics | None = None,
    ) -> None:
        self._parts = parts
        self.writer = writer
        self.read_sessions = read_sessions
        self.leases = leases
        self.clock = clock
        self.stopping = stopping
        self.metrics = metrics
        self.health: dict[str, SourceHealth] = {}
        self._known_sources: set[str] = set()
        self._blind_checked: dict[str, datetime] = {}
        """When each healthy source was last checked for a "blind" ticket to resolve."""
        self._resumed: dict[str, Source] = {}
        """The whole-list source object last handed its stored list, by name (a reload makes
        new objects; a take-over from another replica drops the entry)."""

    def sync(self) -> None:
        """One health record per configured source, carried over from the database across
        restarts; a renamed or re-kinded source starts afresh. Called at start and after
        each reload."""
        parts = self._parts()
        with self.read_sessions() as session:
            stored = {row.name: row for row in session.scalars(select(SourceStateRow))}
        changed: list[SourceHealth] = []
        for name, source in parts.sources.items():
            health = self.health.get(name)
            scope = settings_scope(source.kind, source.settings)
            if health is None or health.kind != source.kind:
                health = self.health[name] = SourceHealth.restore(name, source.kind, stored.get(name), scope)
            elif health.scope != scope:  # pointed elsewhere: what the old address said no longer holds
                health.scope, health.retry_at = scope, None
                changed.append(health)
            if health.cap_wait(self.clock(), parts.config.monitor.max_retry_after):
                changed.append(health)  # stored cut, so a replica taking the source over reads the cut wait
        removed = set(self.health) - set(parts.sources)
        for gone in removed:
            del self.health[gone]
        # keyed by source name like ``health``: a source renamed or removed by a reload
        # must not leave its entries behind for the life of the process
        for gone in set(self._blind_checked) - set(parts.sources):
            del self._blind_checked[gone]
        for gone in set(self._resumed) - set(parts.sources):
            del self._resumed[gone]
        self._known_sources.intersection_update(parts.sources)
        self.leases.forget(sorted(f"source:{gone}" for gone in removed))
        with self.writer.session() as session:  # nobody fixes a source that is no longer there
            for health in changed:
                health.save(session)
            forget_others(session, set(parts.sources))
            for name in set(parts.desk.blind_sources(session)) - set(parts.sources):
                parts.desk.source_recovered(session, name, self.clock(), "was removed from the config")
            session.commit()

    def _record(self, health: SourceHealth) -> None:
        """Persist a source's health; a source failing for ``blind_after`` raises a ticket."""
        parts = self._parts()
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
        parts = self._parts()
        every = parts.every.get(name)
        if every is None:
            return None
        taken = self.leases.acquire(f"source:{name}", every + parts.config.monitor.lease_grace)
        if taken is None:
            source = parts.sources.get(name)
            if source is not None:
                source.close()  # another replica polls it now: a stream it held stops, and starts afresh if it comes back
            return Elsewhere(name)
        if taken.previous_owner is not None and name in self.health:
            log.info("source %s: taken over from replica %s", name, taken.previous_owner)
            self._blind_checked.pop(name, None)
            self._resumed.pop(name, None)  # the other replica stored lists this one never saw
            with self.read_sessions() as session:
                self.health[name] = SourceHealth.restore(name, self.health[name].kind, session.get(SourceStateRow, name), self.health[name].scope)
                self.health[name].cap_wait(self.clock(), parts.config.monitor.max_retry_after)
        return None

    def _poll(self, name: str, next_poll: datetime | None) -> IngestReport | None:
        parts = self._parts()
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
            self._resume(source)
            posts = source.fetch()
        except Exception as exc:
            health.failed(self.clock(), _as_source_error(source, exc), max_wait)
            self._watch_stream(name, source, health)
            self._record(health)
            return None
        finally:
            if self._parts().sources.get(name) is not source:
                source.close()  # a reload replaced it while it was fetched: release what this fetch opened
        posts += self._refresh(source, {p.id for p in posts})
        if self.stopping.is_set():
            return None
        # a source's first poll is its first successful one, empty or not: what a new feed
        # already holds then is backlog; once it has answered, every new item is news
        first_poll = bool(posts) and health.last_success is None and not self._has_posts(name)
        report = parts.pipeline.ingest(name, posts, first_poll=first_poll)
        source.commit()
        health.succeeded(self.clock(), report.posts, report.new_posts, len(report.tickets))
        self._watch_stream(name, source, health)
        self._record(health)
        return report

    def _watch_stream(self, name: str, source: Source, health: SourceHealth) -> None:
        """A stream's status goes with its health to the database, for `monitor sources`
        (``/metrics`` reads it from the running source at scrape time)."""
        if isinstance(source, StreamSource):
            health.stream = source.status().as_json()

    def _resume(self, source: Source) -> None:
        """Hand a whole-list source (a hot list) what storage says its list held, once per
        source object: a topic that left while the daemon was down (for less than
        ``track_for``) or while another replica polled is still seen leaving."""
        if not source.whole_list or self._resumed.get(source.name) is source:
            return
        with self.read_sessions() as session:
            listed = still_listed(session, source.name, self.clock() - self._parts().config.scoring.track_for)
        source.resume(listed)
        self._resumed[source.name] = source

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
            refs = refs_to_reread(session, source.name, source.refresh_batch, fresh_ids, self.clock(), self._parts().config.scoring.track_for)
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
        return {name: self.poll(name) for name in list(self._parts().sources)}
