"""The shared ``httpx.Client`` the daemon builds once, with one deadline on a whole request,
headers included (``httpdeadline``, shared with alerts' sends): httpx's timeouts are per
read, so a server that drips one byte a second would hold a worker forever. ``PoliteHttp``
sets the deadline around each request."""

from __future__ import annotations

from typing import Any

import httpx

import httpdeadline
from sources.http._config import HttpPolicy

MAX_REDIRECTS = 5
"""Redirects followed for one request (``new_client`` tells httpx the same)."""


def new_client(policy: HttpPolicy | None = None, **kwargs: Any) -> httpx.Client:
    """The shared client the daemon builds once (connection pooling, redirects followed,
    proxies from the environment honoured, each with the deadline)."""
    policy = policy or HttpPolicy()
    return httpdeadline.client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        headers={"User-Agent": policy.user_agent},
        **kwargs,
    )
