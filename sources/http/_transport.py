"""The shared ``httpx.Client`` the daemon builds once, with one deadline on a whole request,
headers included (``httpdeadline``, shared with alerts' sends): httpx's timeouts are per
read, so a server that drips one byte a second would hold a worker forever. ``PoliteHttp``
sets the deadline around each request."""

from __future__ import annotations

from typing import Any

import httpx

from httpdeadline import DeadlineTransport
from sources.http._config import HttpPolicy

MAX_REDIRECTS = 5
"""Redirects followed for one request (``new_client`` tells httpx the same)."""


def new_client(policy: HttpPolicy | None = None, **kwargs: Any) -> httpx.Client:
    """The shared client the daemon builds once (connection pooling, redirects followed)."""
    policy = policy or HttpPolicy()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    kwargs.setdefault("transport", DeadlineTransport(limits=limits))
    return httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        limits=limits,
        headers={"User-Agent": policy.user_agent},
        **kwargs,
    )
