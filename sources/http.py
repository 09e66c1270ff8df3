"""Polite HTTP for every source, in one place.

Every source is handed a ``PoliteHttp``; none builds its own client. It applies the
manners a platform expects from a well-behaved poller: a User-Agent that names us, a
connect/read timeout *and* one deadline on the whole request, headers included (a server
that drips one byte a second must not hold a worker; see ``_DeadlineTransport``), a cap on
the body that holds layer by layer *while* it is decompressed (13 kB of ``gzip, gzip``
would otherwise inflate to 8 GiB before any check), conditional GET
(ETag / Last-Modified) with "unchanged" detection by content hash, a per-host
concurrency limit, honouring 429/503 ``Retry-After``, and exponential backoff with
jitter after failures, reset on success. Errors leave as ``sources.errors`` types.
"""

from __future__ import annotations

import contextvars
import copy
import email.utils
import hashlib
import json
import random
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from sources.errors import BodyTooLarge, Gone, ParseError, RateLimited, ResponseError, SourceError, TransportError

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


class BackingOff(TransportError):
    """Not sent at all: the host or URL failed recently and is still in its backoff window."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content: bytes
    headers: Mapping[str, str]
    unchanged: bool = False
    """True on 304, or when the body hashes the same as the last one confirmed for this URL."""
    key: str = ""
    digest: str = ""


@dataclass(slots=True)
class _Gate:
    failures: int = 0
    until: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class _Validators:
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None


RETRY_AFTER_CEILING = 366 * 24 * 3600.0
"""No Retry-After is read as more than a year (``999999999999`` overflowed every date sum);
how long a source really waits is capped far lower by whoever acts on it."""


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), at most
    ``RETRY_AFTER_CEILING``; ``None`` when there is no usable value."""
    if not value:
        return None
    value = value.strip()[:64]
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_CEILING)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC with no zone said, not local time
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now_wall), RETRY_AFTER_CEILING)


# -- the body, decoded with a cap that holds while it is decoded -----------------------------

MAX_REDIRECTS = 5
"""Redirects followed for one request (``new_client`` tells httpx the same)."""

MAX_CODINGS = 2
"""Content-Encoding layers accepted on one response (``gzip, gzip`` is legal and rare)."""


class _Inflater:
    """One gzip or deflate layer that never produces more than ``cap`` bytes in all: each
    call asks zlib for at most the room left plus one byte, so a bomb stops at the cap
    instead of after it has filled memory."""

    def __init__(self, coding: str, cap: int, url: str) -> None:
        self.coding, self.cap, self.url = coding, cap, url
        self.produced = 0
        self.started = False
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        room = self.cap - self.produced
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error:
            if self.coding != "deflate" or self.started:
                raise ResponseError(f"{self.url}: body is not valid {self.coding}") from None
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, as many servers do
            try:
                out = self._zlib.decompress(data, room + 1)
            except zlib.error:
                raise ResponseError(f"{self.url}: body is not valid deflate") from None
        self.started = True
        self.produced += len(out)
        if self.produced > self.cap:
            raise BodyTooLarge(f"{self.url}: body is over the {self.cap}-byte cap once decompressed ({self.coding})")
        return out


def _decoders(content_encoding: str, cap: int, url: str) -> list[_Inflater]:
    """The layers to undo, last applied first."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if len(codings) > MAX_CODINGS:
        raise ResponseError(f"{url}: {len(codings)} content codings ({content_encoding[:80]!r}); at most {MAX_CODINGS} are read")
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseError(f"{url}: unsupported Content-Encoding {coding[:40]!r} (we ask for gzip or deflate)")
    return [_Inflater(coding, cap, url) for coding in reversed(codings)]


# -- one deadline for the whole request ---------------------------------------------------

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


class PoliteHttp:
    """Wraps one shared ``httpx.Client`` (the plug point: tests hand in respx or loopback)."""

    def __init__(
        self,
        client: httpx.Client,
        policy: HttpPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or HttpPolicy()
        self._monotonic = monotonic
        self._wall = wall
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._gates: OrderedDict[str, _Gate] = OrderedDict()  # least recently failed first
        self._validators: OrderedDict[str, _Validators] = OrderedDict()  # least recently used first
        self._host_slots: dict[str, int] = {}  # requests in flight per host; a host with none has no entry
        self._in_flight = 0
        self._secret_headers: dict[str, str] = {}
        self._secret_params: dict[str, str] = {}
        self._secrets_tag = ""

    def with_secrets(self, headers: Mapping[str, str], params: Mapping[str, str]) -> PoliteHttp:
        """The same client (same gates, validators and per-host slots) sending ``headers``
        and query ``params`` with every request of one source: API tokens, cookies, an
        RSSHub access key. They come from the environment and are never part of a URL we
        keep, show or log (``Fetched.url``, gate keys, error messages)."""
        if not headers and not params:
            return self
        for name, value in [*headers.items(), *params.items()]:
            if not value.isascii() or not value.isprintable():
                raise ValueError(f"the secret for {name!r} holds a line break, a control or a non-ASCII character")
        view = copy.copy(self)  # shallow: the state dicts and the lock are shared
        view._secret_headers = {**self._secret_headers, **headers}
        view._secret_params = {**self._secret_params, **params}
        described = repr(sorted(view._secret_headers.items())) + repr(sorted(view._secret_params.items()))
        view._secrets_tag = "#secrets:" + hashlib.sha256(described.encode()).hexdigest()[:12]
        return view

    @property
    def in_flight(self) -> int:
        """Requests under way right now (all hosts)."""
        return self._in_flight

    # -- public -------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> Fetched:
        """GET ``url``; raise a ``SourceError`` for anything but a usable answer."""
        host = urlsplit(url).netloc.lower()
        try:
            target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)  # added to the URL's own query
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ResponseError(f"{url}: bad URL ({exc})") from None
        key = str(target) + self._secrets_tag  # sources with other secrets see other answers
        self._check_gate(host)
        self._check_gate(key)
        request_headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if headers:
            request_headers.update(headers)
        request_headers.update(self._secret_headers)
        validators = self._remembered(key) if conditional else None
        if validators:
            if validators.etag:
                request_headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                request_headers["If-Modified-Since"] = validators.last_modified
        if not self._take_slot(host):
            # never park a worker thread behind hung requests to the same host
            raise BackingOff(f"{host}: {self.policy.per_host} requests already in flight; skipped this round")
        try:
            fetched = self._fetch(url, target, request_headers)
        except RateLimited as exc:
            self._fail(host, exc)
            raise
        except SourceError as exc:
            self._fail(key, exc)
            raise
        finally:
            self._release_slot(host)
        self._succeed(host)
        self._succeed(key)
        if conditional:
            fetched = self._compare(key, fetched)
        return fetched

    def confirm(self, fetched: Fetched) -> None:
        """Remember a conditional response's validators once its body has been used.

        Only a body that parsed is remembered: a broken feed is fetched and fails
        again next time instead of passing as "unchanged"."""
        if not fetched.key or fetched.status == 304:
            return
        headers = {k.lower(): v for k, v in fetched.headers.items()}
        with self._lock:
            self._validators[fetched.key] = _Validators(headers.get("etag"), headers.get("last-modified"), fetched.digest)
            self._validators.move_to_end(fetched.key)
            while len(self._validators) > self.policy.remember:
                self._validators.popitem(last=False)

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        fetched = self.get(url, params=params, headers={"Accept": "application/json", **(headers or {})})
        try:
            return json.loads(fetched.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # '[' * 100000 fits the size cap
            raise ParseError(f"{url}: response is not JSON ({exc.__class__.__name__}: {exc})") from None

    def backoff_remaining(self, url: str) -> float:
        """Seconds until ``url`` (or its host) may be tried again; 0 when it may now."""
        now = self._monotonic()
        host = urlsplit(url).netloc.lower()
        with self._lock:
            untils = [g.until for k, g in self._gates.items() if k in (url, host)]
        return max([0.0] + [u - now for u in untils])

    # -- internals ----------------------------------------------------------------------

    def _fetch(self, url: str, target: httpx.URL, headers: dict[str, str]) -> Fetched:
        """One GET, redirects included, within one deadline. With a source's secrets,
        redirects are followed here and only within the origin asked: httpx would carry
        most headers (an API key) to any host a Location names, and drop a cookie."""
        policy = self.policy
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        deadline = self._monotonic() + policy.total_timeout  # checked between chunks; the sockets' waits use the real clock
        secret = bool(self._secret_headers or self._secret_params)
        origin = (target.scheme, target.host, target.port)
        try:
            with _deadline(policy.total_timeout):
                for _hop in range(MAX_REDIRECTS + 1):
                    request = target.copy_merge_params(self._secret_params) if self._secret_params else target
                    with self.client.stream("GET", request, headers=headers, timeout=timeout, follow_redirects=not secret) as response:
                        if not (secret and response.is_redirect):
                            return self._read(url, response, deadline)
                        following = response.url.join(response.headers.get("location", ""))
                    if (following.scheme, following.host, following.port) != origin:
                        raise ResponseError(
                            f"{url}: redirected to {following.scheme}://{following.host}: this source's secrets go only to"
                            f" {target.scheme}://{target.host}, so the redirect was not followed (set the source's address to where it leads)"
                        )
                    target = following
                raise ResponseError(f"{url}: too many redirects")
        except httpx.TimeoutException as exc:
            raise TransportError(f"{url}: timed out ({exc.__class__.__name__})") from None
        except httpx.LocalProtocolError as exc:  # its message can quote a header value: a secret
            raise ResponseError(f"{url}: the request could not be sent ({exc.__class__.__name__})") from None
        except httpx.TooManyRedirects:
            raise ResponseError(f"{url}: too many redirects") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ResponseError(f"{url}: bad URL ({exc})") from None
        except httpx.DecodingError as exc:
            raise ResponseError(f"{url}: could not decode body ({exc})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{url}: {exc.__class__.__name__}: {exc or 'connection failed'}") from None

    def _read(self, url: str, response: httpx.Response, deadline: float) -> Fetched:
        """The answer's status and body, decoded under the cap; raises ``SourceError``."""
        policy = self.policy
        status = response.status_code
        final_url = self._public(response.url)
        if status == 304:
            return Fetched(final_url, status, b"", dict(response.headers), unchanged=True)
        # 418 is how Weibo (and others) say "you are a scraper, slow down"
        if status in (418, 429) or (status == 503 and "retry-after" in response.headers):
            wait = parse_retry_after(response.headers.get("retry-after"), self._wall())
            raise RateLimited(f"{url}: HTTP {status} (rate limited)", retry_after=wait)
        if status >= 500:
            raise TransportError(f"{url}: HTTP {status} from server")
        if status in (404, 410):
            raise Gone(f"{url}: HTTP {status}")
        if status >= 400:
            raise ResponseError(f"{url}: HTTP {status}")
        if 300 <= status < 400:
            raise ResponseError(f"{url}: HTTP {status} redirect with nowhere usable to go")
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > policy.max_bytes:
            raise BodyTooLarge(f"{url}: body of {int(declared)} bytes is over the {policy.max_bytes}-byte cap")
        layers = _decoders(response.headers.get("content-encoding", ""), policy.max_bytes, url)
        body, received = bytearray(), 0
        for chunk in response.iter_raw():  # decoded here, layer by layer, under the cap
            received += len(chunk)
            if received > policy.max_bytes:
                raise BodyTooLarge(f"{url}: body is over the {policy.max_bytes}-byte cap")
            for layer in layers:
                chunk = layer.feed(chunk)
            body += chunk
            if len(body) > policy.max_bytes:
                raise BodyTooLarge(f"{url}: body is over the {policy.max_bytes}-byte cap")
            if self._monotonic() > deadline:
                raise TransportError(f"{url}: body not complete after {policy.total_timeout:g}s")
        return Fetched(final_url, status, bytes(body), dict(response.headers))

    def _public(self, url: httpx.URL) -> str:
        """The address as we may keep and show it: without the secret query parameters."""
        for name in self._secret_params:
            url = url.copy_remove_param(name)
        return str(url)

    def _compare(self, key: str, fetched: Fetched) -> Fetched:
        if fetched.status == 304:
            return fetched
        digest = hashlib.sha256(fetched.content).hexdigest()
        previous = self._remembered(key)
        unchanged = previous is not None and previous.digest == digest
        return Fetched(fetched.url, fetched.status, fetched.content, fetched.headers, unchanged=unchanged, key=key, digest=digest)

    def _check_gate(self, key: str) -> None:
        with self._lock:
            gate = self._gates.get(key)
        if gate and gate.until > self._monotonic():
            left = gate.until - self._monotonic()
            raise BackingOff(f"{key}: backing off {left:.0f}s more after: {gate.reason}", retry_after=left)

    def _remembered(self, key: str) -> _Validators | None:
        with self._lock:
            validators = self._validators.get(key)
            if validators is not None:
                self._validators.move_to_end(key)
        return validators

    def _fail(self, key: str, exc: SourceError) -> None:
        with self._lock:
            gate = self._gates.setdefault(key, _Gate())
            self._gates.move_to_end(key)
            gate.failures += 1
            if exc.retry_after is not None:
                wait = min(exc.retry_after, self.policy.max_retry_after)
            else:
                wait = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (gate.failures - 1))
                wait *= self._rng.uniform(0.5, 1.0)  # "equal jitter": spread retries of many sources
            gate.until = self._monotonic() + wait
            gate.reason = str(exc)
            if len(self._gates) > self.policy.remember:
                self._forget_gates()

    def _forget_gates(self) -> None:
        """Down to nine tenths of ``remember`` (so the scan is not redone at every failure):
        gates whose wait is over go first, least recently failed first (what they lose is
        only how far the next backoff would have grown), then the least recently failed.
        Most gates of a long run are URLs never asked for again: a tracked post that was
        deleted (404) leaves one keyed by its own address. Called with the lock held."""
        excess = len(self._gates) - self.policy.remember * 9 // 10
        now = self._monotonic()
        for key in [k for k, g in self._gates.items() if g.until <= now][:excess]:
            del self._gates[key]
        while len(self._gates) > self.policy.remember * 9 // 10:
            self._gates.popitem(last=False)

    def _succeed(self, key: str) -> None:
        with self._lock:
            self._gates.pop(key, None)

    def _take_slot(self, host: str) -> bool:
        """One of the host's ``per_host`` slots, or False when all are taken. Counted per
        host while requests are in flight only, so the table holds no host at rest."""
        with self._lock:
            taken = self._host_slots.get(host, 0)
            if taken >= self.policy.per_host:
                return False
            self._host_slots[host] = taken + 1
            self._in_flight += 1
        return True

    def _release_slot(self, host: str) -> None:
        with self._lock:
            self._in_flight -= 1
            left = self._host_slots.pop(host) - 1
            if left:
                self._host_slots[host] = left


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
