"""Per-source health: the state of each poller, kept in the database, and log lines only
when it changes. A source down for an hour writes two lines (the failure and the
recovery), not one per poll."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.models import LeaseRow, SourceStateRow
from sources import BackingOff, RateLimited, SourceError

if TYPE_CHECKING:
    from monitor.config import Config

log = logging.getLogger("monitor.sources")


def settings_scope(kind: str, settings: Mapping[str, Any]) -> str:
    """What a platform's "wait" (Retry-After) was said to: the source's kind and settings,
    hashed. A source given another URL or instance asks someone else, who said nothing."""
    described = json.dumps({"kind": kind, "settings": settings}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(described.encode()).hexdigest()[:32]


@dataclass
class SourceHealth:
    name: str
    kind: str
    last_poll: datetime | None = None
    last_success: datetime | None = None
    failing_since: datetime | None = None
    last_error: str = ""
    failures: int = 0
    posts_seen: int = 0
    next_poll: datetime | None = None
    retry_at: datetime | None = None
    scope: str = ""
    """``settings_scope`` of the source as configured now."""
    stream: dict[str, Any] | None = None
    """A stream source's status at its last poll (``StreamStatus.as_json``); None for others."""

    @classmethod
    def restore(cls, name: str, kind: str, row: SourceStateRow | None, scope: str = "") -> SourceHealth:
        """The stored state of a source, or a fresh one if none is stored for that name and
        kind (a source renamed or given another kind starts afresh). A stored Retry-After
        holds only for the settings it was said to."""
        if row is None or row.kind != kind:
            return cls(name, kind, scope=scope)
        retry_at = row.retry_at if row.retry_scope == scope else None
        return cls(
            row.name, row.kind, row.last_poll_at, row.last_success_at, row.failing_since, row.last_error, row.failures, row.posts_seen, row.next_poll_at, retry_at, scope,
            row.stream if isinstance(row.stream, dict) else None,
        )

    def save(self, session: Session) -> None:
        row = session.get(SourceStateRow, self.name) or SourceStateRow(name=self.name)
        row.kind = self.kind
        row.last_poll_at = self.last_poll
        row.last_success_at = self.last_success
        row.failing_since = self.failing_since
        row.last_error = self.last_error
        row.failures = self.failures
        row.posts_seen = self.posts_seen
        row.next_poll_at = self.next_poll
        row.retry_at = self.retry_at
        row.retry_scope = self.scope
        row.stream = self.stream
        session.add(row)

    def succeeded(self, now: datetime, posts: int, new: int, tickets: int) -> None:
        if self.failures:
            log.info("source %s: recovered after %d failed poll(s)", self.name, self.failures)
        self.last_poll = self.last_success = now
        self.failures = 0
        self.failing_since = self.retry_at = None  # last_error stays: "what went wrong last time" is still worth seeing
        self.posts_seen += new
        if new or tickets:
            log.info("source %s: %d posts (%d new), %d ticket(s) touched", self.name, posts, new, tickets)
        else:
            log.debug("source %s: %d posts, nothing new", self.name, posts)

    def failed(self, now: datetime, error: SourceError, max_wait: timedelta = timedelta(hours=1)) -> None:
        """A poll failed; a platform's Retry-After is honoured up to ``max_wait``."""
        self.last_poll = now
        if isinstance(error, BackingOff):
            # not a new failure: we did not even ask. But a host that told another source to
            # wait (429) keeps this one from polling too: that is failing, and goes blind
            if error.retry_after:
                self.failing_since = self.failing_since or now
            return
        self.failures += 1
        self.failing_since = self.failing_since or now
        if isinstance(error, RateLimited) and error.retry_after:
            self.retry_at = now + min(timedelta(seconds=error.retry_after), max_wait)
        message = str(error)
        kind = "will retry" if error.retryable else "check the source's settings"
        if self.failures == 1 or error.__class__.__name__ not in self.last_error:
            log.warning("source %s: poll failed (%s): %s", self.name, kind, message)
        else:
            log.debug("source %s: still failing (%d): %s", self.name, self.failures, message)
        self.last_error = f"{error.__class__.__name__}: {message}"

    def waiting(self, now: datetime) -> bool:
        """The platform asked us to wait and the time has not come."""
        return self.retry_at is not None and now < self.retry_at

    def cap_wait(self, now: datetime, max_wait: timedelta) -> bool:
        """A wait longer than the cap from now (stored by an older version, or before the
        cap was lowered) ends at the cap. True when it was cut."""
        if self.retry_at is not None and self.retry_at > now + max_wait:
            self.retry_at = now + max_wait
            return True
        return False

    @property
    def state(self) -> str:
        """``never polled``; ``failing``; ``waiting`` (asked to poll, but its host was busy
        or told it to wait, and it has never yet had an answer); ``ok``."""
        if self.last_poll is None:
            return "never polled"
        if self.failures:
            return "failing"
        return "ok" if self.last_success is not None else "waiting"

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "last_poll": iso(self.last_poll),
            "last_success": iso(self.last_success),
            "failing_since": iso(self.failing_since),
            "last_error": self.last_error,
            "failures": self.failures,
            "posts_seen": self.posts_seen,
            "next_poll": iso(self.next_poll),
            "retry_at": iso(self.retry_at),
            "stream": self.stream,
        }


def source_health(session: Session, config: Config, now: datetime) -> list[dict[str, Any]]:
    """``monitor sources --json``: each configured source's health, and which running
    replica polls it (``None``: nobody holds its lease now)."""
    stored = {row.name: row for row in session.scalars(select(SourceStateRow))}
    polled_by = {
        row.name.removeprefix("source:"): row.owner
        for row in session.scalars(select(LeaseRow).where(LeaseRow.name.like("source:%"), LeaseRow.expires_at > now))
    }
    return [
        {**SourceHealth.restore(s.name, s.kind, stored.get(s.name), settings_scope(s.kind, s.settings)).as_json(), "replica": polled_by.get(s.name)}
        for s in config.sources
    ]
