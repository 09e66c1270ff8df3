"""The shared ``httpx.Client`` the daemon builds once, and one deadline on a whole request,
headers included: httpx's timeouts are per read, so a server that drips one byte a second
would hold a worker forever. The deadline lives in a context variable that
``PoliteHttp`` sets around each request and every socket wait reads."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from sources.http._config import HttpPolicy

MAX_REDIRECTS = 5
"""Redirects followed for one request (``new_client`` tells httpx the same)."""

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("monitor_http_deadline", default=None)
"""``time.monotonic()`` by which the request under way in this thread must be done."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within(timeout: float | None, kind: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise kind("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _within(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Every socket wait shortened to what is left of the request's deadline, so a server
    that trickles its headers a byte a second is cut off like one that trickles its body
    (httpx's timeouts are per read: each byte would reset them)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _within(timeout, httpcore.ConnectTimeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _within(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, its connections made through ``_DeadlineBackend``. httpx
    does not take a network backend, so it is set on the pool it built (the constructor
    refuses to run if a new httpx moves it, and tests/test_http_hostile.py's trickled
    headers fail without it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
            raise RuntimeError("httpx/httpcore changed: cannot give the connection pool a deadline")
        pool._network_backend = _DeadlineBackend(pool._network_backend)


def new_client(policy: HttpPolicy | None = None, **kwargs: Any) -> httpx.Client:
    """The shared client the daemon builds once (connection pooling, redirects followed)."""
    policy = policy or HttpPolicy()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    kwargs.setdefault("transport", _DeadlineTransport(limits=limits))
    return httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        limits=limits,
        headers={"User-Agent": policy.user_agent},
        **kwargs,
    )
