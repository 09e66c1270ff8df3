"""One deadline on a whole HTTP request, headers included, for every package that makes
requests (sources' fetches, alerts' sends): httpx's timeouts are per read, so a server
that drips one byte a second would hold a worker, or a send that must end within its
limit, for ever. The deadline lives in a context variable that ``deadline`` sets around a
request and every socket wait of a client made by ``client`` reads, whatever transport
httpx picks (direct or through a proxy from the environment); any other client simply
ignores it."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("monitor_http_deadline", default=None)
"""``time.monotonic()`` by which the request under way in this thread must be done."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests made in this block, on a client made by ``client``, end within
    ``seconds`` from now (a timeout error past it)."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within(timeout: float | None, kind: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the request's deadline."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
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


def client(**kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` (``kwargs`` as httpx takes them) whose every transport keeps the
    deadline: the one httpx builds for direct requests and the one it builds for each proxy
    the environment names (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``; hosts in
    ``NO_PROXY`` go direct), so a user behind a corporate proxy is served through it and a
    proxy that drips its answer is cut off like a server. Handing httpx a ``transport=``
    of our own would switch the environment's proxies off (httpx reads them only for
    transports it builds), and a transport it builds knows nothing of the deadline: the
    deadline is given to each one after it is built. A ``transport`` or ``mounts`` the
    caller hands in (a test's) are the caller's and left as they are."""
    built = httpx.Client(**kwargs)
    theirs = {id(kwargs.get("transport")), *map(id, (kwargs.get("mounts") or {}).values())}
    mounted = getattr(built, "_mounts", None)
    if not isinstance(mounted, dict):
        raise RuntimeError("httpx changed: cannot find the transports it mounted for proxies")
    for transport in (built._transport, *mounted.values()):
        if transport is not None and id(transport) not in theirs:
            _give_deadline(transport)
    return built


def _give_deadline(transport: httpx.BaseTransport) -> None:
    """Route ``transport``'s connections (to a server or to a proxy: httpcore's proxy pools
    connect through the same backend, the tunnel's TLS too) through ``_DeadlineBackend``.
    httpx takes no network backend, so it is set on the pool httpx built; this refuses to
    run if a new httpx moves it (tests/test_http_proxy.py and test_http_hostile.py's
    trickled headers fail without it)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(transport, httpx.HTTPTransport) or not isinstance(backend, httpcore.NetworkBackend):
        raise RuntimeError(f"httpx/httpcore changed: cannot give {type(transport).__name__}'s connections a deadline")
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
