"""Per-source health: the state of each poller, and log lines only when it changes.

A source down for an hour writes two lines (the failure and the recovery), not one
per poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sources import BackingOff, SourceError

log = logging.getLogger("monitor.sources")


@dataclass
class SourceHealth:
    name: str
    kind: str
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str = ""
    failures: int = 0
    posts_seen: int = 0

    def succeeded(self, now: datetime, posts: int, new: int, tickets: int) -> None:
        if self.failures:
            log.info("source %s: recovered after %d failed poll(s)", self.name, self.failures)
        self.last_poll = self.last_success = now
        self.failures = 0
        self.last_error = ""
        self.posts_seen += posts
        if new or tickets:
            log.info("source %s: %d posts (%d new), %d ticket(s) touched", self.name, posts, new, tickets)
        else:
            log.debug("source %s: %d posts, nothing new", self.name, posts)

    def failed(self, now: datetime, error: SourceError) -> None:
        self.last_poll = now
        if isinstance(error, BackingOff):
            return  # not a new failure: we did not even ask
        self.failures += 1
        message = str(error)
        kind = "will retry" if error.retryable else "check the source's settings"
        if self.failures == 1 or error.__class__.__name__ not in self.last_error:
            log.warning("source %s: poll failed (%s): %s", self.name, kind, message)
        else:
            log.debug("source %s: still failing (%d): %s", self.name, self.failures, message)
        self.last_error = f"{error.__class__.__name__}: {message}"
