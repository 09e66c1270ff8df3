"""What a polite poller promises a platform, as one frozen value with safe defaults
(timeouts, body cap, per-host concurrency, backoff, how much it remembers): like httpx's
``Timeout`` and ``Limits``, so a daemon never waits forever on one slow feed and the
config (``[monitor]``) has one place to land."""

from __future__ import annotations

from dataclasses import dataclass

USER_AGENT = "brand-monitor/0.1 (self-hosted crisis-alert daemon; +https://pypi.org/project/brand-monitor/)"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    per_host: int = 4
    backoff_base: float = 30.0
    backoff_max: float = 3600.0
    max_retry_after: float = 3600.0
    """The longest a host's Retry-After closes it to every source (``[monitor] max_retry_after``)."""
    user_agent: str = USER_AGENT
    remember: int = 10_000
    """At most this many URLs' validators (ETag, Last-Modified, body hash) and backoff gates
    are kept; past it the least recently used go first. A long-running daemon meets an
    endless stream of URLs (a tracked post's address per post, feeds renamed in the config)
    and must not keep one entry per URL it ever saw."""
